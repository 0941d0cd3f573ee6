// AI-analysis consumes its SQS queue: it runs one analysis of a user's
// data with an OpenAI chat model per job and stores the insight.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/workers"
	"github.com/personalcrm/core/functions/workers/aianalysis"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.AIAnalysis)
	if err != nil {
		platform.Fatal(err)
	}
	workers.StartJob(app, aianalysis.Worker(workers.AppDeps(app), aianalysis.FromConfig(app.Config)))
}
