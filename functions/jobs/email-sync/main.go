// Email-sync consumes its SQS queue: it syncs one Google account's mail
// per job and enqueues contact extraction for each new message.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/workers"
	"github.com/personalcrm/core/functions/workers/mailsync"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.EmailSync)
	if err != nil {
		platform.Fatal(err)
	}
	mail, err := mailsync.FromConfig(app.Config, app.DB)
	if err != nil {
		platform.Fatal(err)
	}
	workers.StartJob(app, mailsync.Worker(workers.AppDeps(app), mail))
}
