package api

import (
	"github.com/personalcrm/core/shared/platform"
)

// Lambda implements platform.Handler: the route served alone, with app's
// logger, monitor, configuration, sessions and rate limiter.
func (r Route) Lambda(app *platform.App) any {
	o := Options{Log: app.Log, Monitor: app.Monitor}.WithConfig(app.Config)
	if app.Sessions != nil {
		o.Sessions = app.Sessions
	}
	if app.Limiter != nil {
		o.Limiter = app.Limiter
	}
	return NewServer(o, r)
}
