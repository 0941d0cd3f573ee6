// Health answers GET /health.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/routes/health"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.Health)
	if err != nil {
		platform.Fatal(err)
	}
	jobs := queue.New(app.DB, sqsqueue.FromConfig(app.Config), app.Log)
	api.Start(app, health.Route(health.Deps{Log: app.Log, Monitor: app.Monitor, Checks: append(app.Checks(), jobs.Check())}))
}
