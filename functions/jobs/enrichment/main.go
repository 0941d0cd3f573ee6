// Enrichment consumes its SQS queue: it fills one contact's details from
// the user's Google Contacts per job.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/workers"
	"github.com/personalcrm/core/functions/workers/enrich"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.Enrichment)
	if err != nil {
		platform.Fatal(err)
	}
	o, err := enrich.FromConfig(app.Config, app.DB)
	if err != nil {
		platform.Fatal(err)
	}
	workers.StartJob(app, enrich.Worker(workers.AppDeps(app), o))
}
