// Enrichment consumes its SQS queue: it will add public details to a contact.
//
// Its handler is not built yet: each job is recorded dead with the reason
// "This kind of job is not available yet" (operators read "no handler for
// this job type yet") and its message goes to the dead-letter queue, from
// which it can be redriven once the handler exists.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/workers"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.Enrichment)
	if err != nil {
		platform.Fatal(err)
	}
	workers.StartJob(app, workers.Enrichment(workers.AppDeps(app)))
}
