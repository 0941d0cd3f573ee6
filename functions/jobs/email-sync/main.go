// Email-sync consumes its SQS queue: it syncs one Google account's mail
// per job and enqueues contact extraction for each new message.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/workers"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.EmailSync)
	if err != nil {
		platform.Fatal(err)
	}
	deps := workers.AppDeps(app)
	if deps.Mail, err = workers.NewMailSync(app.Config, app.DB); err != nil {
		platform.Fatal(err)
	}
	workers.StartJob(app, workers.EmailSync(deps))
}
