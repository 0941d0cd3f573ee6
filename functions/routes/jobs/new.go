package jobs

import (
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
)

// NewGet builds GET /v1/jobs/{id}.
func NewGet(app *platform.App) (api.Route, error) { return Get(queue.NewReader(app.DB)), nil }
