// Package routes lists every route handler with its dependencies, for the
// local server and the API document. Each Lambda wires only its own route.
package routes

import (
	"encoding/json"
	"log/slog"

	"github.com/personalcrm/core/functions/routes/contacts"
	"github.com/personalcrm/core/functions/routes/health"
	"github.com/personalcrm/core/functions/routes/jobs"
	"github.com/personalcrm/core/functions/routes/openapi"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/domain/contact"
	healthcheck "github.com/personalcrm/core/shared/health"
	"github.com/personalcrm/core/shared/queue"
)

// Deps are what the routes need.
type Deps struct {
	Log      *slog.Logger
	Checks   []healthcheck.Check
	Contacts *contact.Service
	Jobs     *queue.Reader
}

// All returns every route of the catalog, bound to deps. With zero Deps the
// routes can be documented but not served.
func All(d Deps) []api.Route {
	return []api.Route{
		health.Route(d.Log, d.Checks...),
		openapi.Route(),
		contacts.List(d.Contacts),
		contacts.Create(d.Contacts),
		contacts.Get(d.Contacts),
		contacts.Update(d.Contacts),
		contacts.Delete(d.Contacts),
		jobs.Get(d.Jobs),
	}
}

// Document is the OpenAPI 3.1 document of every route, generated from the
// handlers' input and output types.
func Document() ([]byte, error) {
	s := api.NewServer(api.Options{}, All(Deps{})...)
	b, err := json.MarshalIndent(s.OpenAPI(), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
