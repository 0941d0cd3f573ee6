// Package enqueue builds the routes that start background jobs: their
// handlers live with their resources, and their constructors here, with
// the job queue on SQS, so that only the functions of these routes link
// the SQS client (the others, a plain read or write, start faster
// without it).
package enqueue

import (
	"github.com/personalcrm/core/functions/routes/ai"
	"github.com/personalcrm/core/functions/routes/contacts"
	"github.com/personalcrm/core/functions/routes/emails"
	"github.com/personalcrm/core/functions/routes/signin"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/domain/insight"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
)

// NewContactsEnrich builds POST /v1/contacts/{id}/enrich.
func NewContactsEnrich(app *platform.App) (api.Route, error) {
	return contacts.Enrich(contact.NewEnrichments(sqsqueue.Queue(app))), nil
}

// NewEmailsSync builds POST /v1/emails/sync.
func NewEmailsSync(app *platform.App) (api.Route, error) {
	return emails.Sync(email.NewSyncs(app.DB, sqsqueue.Queue(app))), nil
}

// NewAIAnalyze builds POST /v1/ai/analyze.
func NewAIAnalyze(app *platform.App) (api.Route, error) {
	return ai.Analyze(insight.NewService(app.DB, sqsqueue.Queue(app))), nil
}

// NewAuthCallback builds GET /auth/google/callback: a sign-in enqueues
// the account's first mail and calendar syncs.
func NewAuthCallback(app *platform.App) (api.Route, error) {
	d, err := signin.NewCallbackDeps(app.Config, app.DB, app.Sessions, sqsqueue.Queue(app), app.Log)
	if err != nil {
		return api.Route{}, err
	}
	return signin.Callback(d), nil
}
