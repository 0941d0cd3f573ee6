// AI-analyze answers POST /v1/ai/analyze.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/routes/ai"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/insight"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.AIAnalyze)
	if err != nil {
		platform.Fatal(err)
	}
	api.Start(app, ai.Analyze(insight.NewService(app.DB, queue.New(app.DB, sqsqueue.FromConfig(app.Config), app.Log))))
}
