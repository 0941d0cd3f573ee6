// Package routes lists every route handler with its dependencies, for the
// local server and the API document. Each Lambda wires only its own route.
package routes

import (
	"encoding/json"
	"log/slog"

	"github.com/personalcrm/core/functions/routes/ai"
	authroutes "github.com/personalcrm/core/functions/routes/auth"
	"github.com/personalcrm/core/functions/routes/calendar"
	"github.com/personalcrm/core/functions/routes/contacts"
	"github.com/personalcrm/core/functions/routes/emails"
	"github.com/personalcrm/core/functions/routes/health"
	"github.com/personalcrm/core/functions/routes/jobs"
	"github.com/personalcrm/core/functions/routes/openapi"
	userroutes "github.com/personalcrm/core/functions/routes/user"
	"github.com/personalcrm/core/functions/routes/webhooks"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/domain/insight"
	"github.com/personalcrm/core/shared/domain/meeting"
	"github.com/personalcrm/core/shared/domain/user"
	healthcheck "github.com/personalcrm/core/shared/health"
	"github.com/personalcrm/core/shared/monitor"
	"github.com/personalcrm/core/shared/queue"
)

// Deps are what the routes need.
type Deps struct {
	Log *slog.Logger
	// Monitor receives the health checks' figures.
	Monitor  *monitor.Monitor
	Checks   []healthcheck.Check
	Contacts *contact.Service
	// Enrichments takes requests to enrich contacts.
	Enrichments *contact.Enrichments

	// Signing in and out, and the signed-in user's routes.
	Login    authroutes.LoginDeps
	Callback authroutes.CallbackDeps
	Users    *user.Service
	Sessions *auth.CachedSessions

	// Jobs reads the state of users' jobs.
	Jobs *queue.Reader

	// Emails reads synced mail; Syncs takes requests to sync.
	Emails *email.Service
	Syncs  *email.Syncs
	// Meetings takes requests to sync calendars.
	Meetings *meeting.Service

	// Insights takes requests for AI analyses and lists their results.
	Insights *insight.Service
	// Gmail receives Gmail's push notifications.
	Gmail webhooks.GmailDeps

	// Data disconnects Google accounts, deletes users and exports their
	// data; Cache is what deleting a user drops their entries from.
	Data  *user.Data
	Cache *cache.Cache
}

// All returns every route of the catalog, bound to deps. With zero Deps the
// routes can be documented but not served.
func All(d Deps) []api.Route {
	return []api.Route{
		health.Route(health.Deps{Log: d.Log, Monitor: d.Monitor, Checks: d.Checks}),
		openapi.Route(),
		contacts.List(d.Contacts),
		contacts.Create(d.Contacts),
		contacts.Get(d.Contacts),
		contacts.Update(d.Contacts),
		contacts.Delete(d.Contacts),
		contacts.Enrich(d.Enrichments),
		authroutes.Login(d.Login),
		authroutes.Callback(d.Callback),
		authroutes.Logout(d.Sessions, d.Login.Cookies, d.Login.Returns),
		userroutes.Get(d.Users),
		userroutes.Update(d.Users),
		userroutes.Features(),
		userroutes.SessionsList(d.Sessions),
		userroutes.SessionsRevoke(d.Sessions),
		userroutes.SessionsRevokeAll(d.Sessions, d.Login.Cookies.Session),
		jobs.Get(d.Jobs),
		emails.List(d.Emails),
		emails.Get(d.Emails),
		emails.Sync(d.Syncs),
		calendar.Sync(d.Meetings),
		ai.Analyze(d.Insights),
		ai.List(d.Insights),
		webhooks.Gmail(d.Gmail),
		userroutes.Disconnect(d.Data, d.Log),
		userroutes.Delete(userroutes.DeleteDeps{Users: d.Data, Sessions: d.Sessions, Cache: d.Cache, Cookies: d.Login.Cookies.Session, Log: d.Log}),
		userroutes.Export(userroutes.ExportDeps{Users: d.Data}),
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
