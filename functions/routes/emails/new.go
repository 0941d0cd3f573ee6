package emails

import (
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/platform"
)

// NewList builds GET /v1/emails.
func NewList(app *platform.App) (api.Route, error) { return List(email.NewService(app.DB)), nil }

// NewGet builds GET /v1/emails/{id}.
func NewGet(app *platform.App) (api.Route, error) { return Get(email.NewService(app.DB)), nil }
