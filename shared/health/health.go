// Package health runs the dependency checks behind GET /health.
package health

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultTimeout bounds one check.
const DefaultTimeout = 2 * time.Second

// Check is one dependency check.
type Check struct {
	// Name is how the report calls it: "database", "cache", "queue".
	Name string
	// Required checks make the whole report unhealthy when they fail.
	Required bool
	// Run returns nil when the dependency answers.
	Run func(ctx context.Context) error
	// Details, when set, adds facts to a passing check (such as queue depths).
	Details func(ctx context.Context) (map[string]any, error)
}

// The statuses of a check and of the report.
const (
	Up        = "up"
	Down      = "down"
	Healthy   = "healthy"
	Degraded  = "degraded"
	Unhealthy = "unhealthy"
)

// Result is one check's outcome. Errors are logged, never reported: the
// report is public.
type Result struct {
	Status    string         `json:"status" enum:"up,down" doc:"Whether the dependency answered"`
	Required  bool           `json:"required" doc:"Whether the API needs it to work"`
	LatencyMs float64        `json:"latencyMs" doc:"How long the check took, in milliseconds"`
	Details   map[string]any `json:"details,omitempty" doc:"Facts about the dependency, such as queue depths"`
}

// Report is the outcome of every check.
type Report struct {
	Status string            `json:"status" enum:"healthy,degraded,unhealthy" doc:"unhealthy when a required check fails, degraded when an optional one does"`
	Checks map[string]Result `json:"checks"`
}

// Run runs checks concurrently, each within timeout, and logs failures.
func Run(ctx context.Context, log *slog.Logger, timeout time.Duration, checks ...Check) Report {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	rep := Report{Status: Healthy, Checks: make(map[string]Result, len(checks))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			start := time.Now()
			err := c.Run(cctx)
			res := Result{Status: Up, Required: c.Required, LatencyMs: float64(time.Since(start).Microseconds()) / 1000}
			if err == nil && c.Details != nil {
				res.Details, err = c.Details(cctx)
			}
			if err != nil {
				res.Status = Down
				res.Details = nil
				if log != nil {
					log.WarnContext(ctx, "health check failed", "check", c.Name, "err", err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			rep.Checks[c.Name] = res
			switch {
			case err != nil && c.Required:
				rep.Status = Unhealthy
			case err != nil && rep.Status == Healthy:
				rep.Status = Degraded
			}
		}()
	}
	wg.Wait()
	return rep
}
