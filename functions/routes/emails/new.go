package emails

import (
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
)

// NewList builds GET /v1/emails.
func NewList(app *platform.App) (api.Route, error) { return List(email.NewService(app.DB)), nil }

// NewGet builds GET /v1/emails/{id}.
func NewGet(app *platform.App) (api.Route, error) { return Get(email.NewService(app.DB)), nil }

// NewSync builds POST /v1/emails/sync; it enqueues on SQS.
func NewSync(app *platform.App) (api.Route, error) {
	return Sync(email.NewSyncs(app.DB, sqsqueue.Queue(app))), nil
}
