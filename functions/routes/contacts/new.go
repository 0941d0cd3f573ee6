package contacts

import (
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/platform"
)

// The constructors build each route from what its function's cold start
// has; each Lambda's main names one.

func service(app *platform.App) *contact.Service {
	return contact.NewService(app.DB, contact.WithCache(app.Cache))
}

// NewList builds GET /v1/contacts.
func NewList(app *platform.App) (api.Route, error) { return List(service(app)), nil }

// NewCreate builds POST /v1/contacts.
func NewCreate(app *platform.App) (api.Route, error) { return Create(service(app)), nil }

// NewGet builds GET /v1/contacts/{id}.
func NewGet(app *platform.App) (api.Route, error) { return Get(service(app)), nil }

// NewUpdate builds PATCH /v1/contacts/{id}.
func NewUpdate(app *platform.App) (api.Route, error) { return Update(service(app)), nil }

// NewDelete builds DELETE /v1/contacts/{id}.
func NewDelete(app *platform.App) (api.Route, error) { return Delete(service(app)), nil }
