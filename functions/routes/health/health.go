// Package health serves GET /health: the state of the database, cache and
// queue, 503 when a required one is down.
package health

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/health"
)

// Output is the health report; its status is 503 when a required
// dependency is down.
type Output struct {
	Status       int    `json:"-"`
	CacheControl string `header:"Cache-Control"`
	Body         health.Report
}

// Route answers GET /health by running checks.
func Route(log *slog.Logger, checks ...health.Check) api.Route {
	return api.Handle(catalog.Health, func(ctx context.Context, _ *struct{}) (*Output, error) {
		rep := health.Run(ctx, log, health.DefaultTimeout, checks...)
		out := &Output{Status: http.StatusOK, CacheControl: "no-store", Body: rep}
		if rep.Status == health.Unhealthy {
			out.Status = http.StatusServiceUnavailable
		}
		return out, nil
	}, api.Errors(http.StatusServiceUnavailable))
}
