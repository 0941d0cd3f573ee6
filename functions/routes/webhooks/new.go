package webhooks

import (
	"context"

	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
)

// NewGmail builds POST /webhooks/gmail: the verifier app's configuration
// describes, enqueuing syncs on SQS.
func NewGmail(app *platform.App) (api.Route, error) {
	v, err := VerifierFromConfig(context.Background(), app.Config, app.Log)
	if err != nil {
		return api.Route{}, err
	}
	return Gmail(GmailDeps{
		Enabled:  app.Config.Features.Webhooks,
		Verifier: v,
		Syncs:    email.NewSyncs(app.DB, sqsqueue.Queue(app)),
	}), nil
}
