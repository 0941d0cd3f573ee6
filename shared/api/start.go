package api

import (
	"github.com/personalcrm/core/shared/platform"
)

// Start serves routes as the Lambda of app's function. It does not return.
// On SIGTERM (the environment shutting down) the app's pool is closed.
func Start(app *platform.App, routes ...Route) {
	o := Options{Log: app.Log, Monitor: app.Monitor}.WithConfig(app.Config)
	if app.Sessions != nil {
		o.Sessions = app.Sessions
	}
	if app.Limiter != nil {
		o.Limiter = app.Limiter
	}
	s := NewServer(o, routes...)
	platform.Start(app, s.LambdaHandler(app.Function.Name))
}
