// AI-insights-list answers GET /v1/ai/insights.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/routes/ai"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/insight"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.AIInsightsList)
	if err != nil {
		platform.Fatal(err)
	}
	api.Start(app, ai.List(insight.NewService(app.DB, nil)))
}
