// Contact-extraction consumes its SQS queue: the people each email was
// exchanged with become the user's contacts.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/workers"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.ContactExtraction)
	if err != nil {
		platform.Fatal(err)
	}
	workers.StartJob(app, workers.ContactExtraction(workers.AppDeps(app)))
}
