// Webhooks-gmail answers POST /webhooks/gmail.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/routes/webhooks"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
)

func main() {
	ctx := context.Background()
	app, err := platform.Init(ctx, catalog.WebhooksGmail)
	if err != nil {
		platform.Fatal(err)
	}
	v, err := webhooks.VerifierFromConfig(ctx, app.Config, app.Log)
	if err != nil {
		platform.Fatal(err)
	}
	api.Start(app, webhooks.Gmail(webhooks.GmailDeps{
		Enabled:  app.Config.Features.Webhooks,
		Verifier: v,
		Syncs:    email.NewSyncs(app.DB, queue.New(app.DB, sqsqueue.FromConfig(app.Config), app.Log)),
	}))
}
