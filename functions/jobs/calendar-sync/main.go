// Calendar-sync consumes its SQS queue: it syncs one Google account's
// calendar per job and records its past meetings as interactions.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/jobs/calendarsync"
	"github.com/personalcrm/core/functions/workers"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.CalendarSync)
	if err != nil {
		platform.Fatal(err)
	}
	w, err := calendarsync.New(app)
	if err != nil {
		platform.Fatal(err)
	}
	workers.StartJob(app, w)
}
