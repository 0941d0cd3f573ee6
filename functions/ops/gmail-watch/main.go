// Gmail-watch runs daily: it makes or renews the Gmail watch of every
// mailbox that takes push notifications, so that Gmail publishes their
// changes to GOOGLE_PUBSUB_TOPIC.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/workers"
	"github.com/personalcrm/core/functions/workers/gmailwatch"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.GmailWatch)
	if err != nil {
		platform.Fatal(err)
	}
	o, err := gmailwatch.FromConfig(app.Config, app.DB, app.Log)
	if err != nil {
		platform.Fatal(err)
	}
	workers.StartOp(app, gmailwatch.Op(app.DB, o))
}
