package system

import (
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
)

// NewHealth builds GET /health over app's database and cache and the job
// queue.
func NewHealth(app *platform.App) (api.Route, error) {
	checks := append(app.Checks(), sqsqueue.Queue(app).Check())
	return Health(Deps{Log: app.Log, Monitor: app.Monitor, Checks: checks}), nil
}
