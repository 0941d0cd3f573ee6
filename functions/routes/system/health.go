// Package system serves GET /health: whether the database, cache and
// queue answer, 503 when a required one is down.
package system

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/health"
	"github.com/personalcrm/core/shared/monitor"
)

// Output is the public health report; its status is 503 when a required
// dependency is down.
type Output struct {
	Status       int    `json:"-"`
	CacheControl string `header:"Cache-Control"`
	Body         health.Public
}

// Deps are what GET /health needs.
type Deps struct {
	Log *slog.Logger
	// Monitor receives each run's figures (latencies, queue depths), which
	// only operators see.
	Monitor *monitor.Monitor
	Checks  []health.Check
	// Every is how long one run's report is answered before the checks
	// run again; zero is health.DefaultEvery.
	Every time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Health answers GET /health with the overall status and whether each
// dependency is up. The checks run at most once every d.Every in an
// instance however many requests come (the route is public, and each run
// costs a round trip to every dependency); each run's latencies and queue
// depths go to d.Monitor as metrics.
func Health(d Deps) api.Route {
	checks := health.NewCached(health.CachedOptions{Log: d.Log, Monitor: d.Monitor, Checks: d.Checks, Every: d.Every, Now: d.Now})
	return api.Handle(catalog.Health, func(ctx context.Context, _ *struct{}) (*Output, error) {
		rep := checks.Report(ctx)
		out := &Output{Status: http.StatusOK, CacheControl: "no-store", Body: rep.Public()}
		if rep.Status == health.Unhealthy {
			out.Status = http.StatusServiceUnavailable
		}
		return out, nil
	}, api.Errors(http.StatusServiceUnavailable))
}
