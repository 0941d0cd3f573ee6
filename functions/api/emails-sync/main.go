// Emails-sync answers POST /v1/emails/sync.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/routes/emails"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.EmailsSync)
	if err != nil {
		platform.Fatal(err)
	}
	api.Start(app, emails.Sync(email.NewSyncs(app.DB, queue.New(app.DB, sqsqueue.FromConfig(app.Config), app.Log))))
}
