// Package health runs the dependency checks behind GET /health.
//
// The route is public, so what it answers is the least an outside
// observer needs: the overall status and whether each dependency is up.
// The figures operators need (each check's latency, the queues' depths)
// go to metrics instead (Emit). Checks cost round trips to every
// dependency, so Cached runs them at most once per period per instance,
// however often the route is called.
package health

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/personalcrm/core/shared/monitor"
)

// DefaultTimeout bounds one check.
const DefaultTimeout = 2 * time.Second

// DefaultEvery is how long Cached serves a report before it runs the
// checks again: short enough for a load balancer or uptime probe to see a
// failure within seconds, long enough that a flood of requests costs the
// dependencies one round of checks per instance every few seconds.
const DefaultEvery = 5 * time.Second

// Check is one dependency check.
type Check struct {
	// Name is how the report calls it: "database", "cache", "queue".
	Name string
	// Required checks make the whole report unhealthy when they fail.
	Required bool
	// Run returns nil when the dependency answers.
	Run func(ctx context.Context) error
	// Facts, when set, measures a passing dependency for operators (such
	// as queue depths), by name; an error makes the check fail. They are
	// emitted as metrics, never answered.
	Facts func(ctx context.Context) (map[string]float64, error)
}

// The statuses of a check and of the report.
const (
	Up        = "up"
	Down      = "down"
	Healthy   = "healthy"
	Degraded  = "degraded"
	Unhealthy = "unhealthy"
)

// Result is one check's outcome, for operators. Errors are logged, never
// reported.
type Result struct {
	Status    string
	Required  bool
	Latency   time.Duration
	Facts     map[string]float64
	CheckedAt time.Time
}

// Report is the outcome of every check, for operators.
type Report struct {
	Status string
	Checks map[string]Result
}

// Public is what GET /health answers anyone: the overall status and
// whether each dependency answered, nothing more.
type Public struct {
	Status string                 `json:"status" enum:"healthy,degraded,unhealthy" doc:"unhealthy when a required dependency is down, degraded when an optional one is"`
	Checks map[string]PublicCheck `json:"checks" doc:"Each dependency: database, cache, queue"`
}

// PublicCheck is one dependency in the public report.
type PublicCheck struct {
	Status string `json:"status" enum:"up,down" doc:"Whether the dependency answered"`
}

// Public is the part of the report anyone may see.
func (r Report) Public() Public {
	p := Public{Status: r.Status, Checks: make(map[string]PublicCheck, len(r.Checks))}
	for name, c := range r.Checks {
		p.Checks[name] = PublicCheck{Status: c.Status}
	}
	return p
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
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			start := time.Now()
			err := c.Run(cctx)
			res := Result{Status: Up, Required: c.Required, Latency: time.Since(start), CheckedAt: start}
			if err == nil && c.Facts != nil {
				res.Facts, err = c.Facts(cctx)
			}
			if err != nil {
				res.Status = Down
				res.Facts = nil
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
		})
	}
	wg.Wait()
	return rep
}

// Emit writes a report's figures as metrics, for operators' dashboards
// and alarms: per check health.<check>.latencyMs and health.<check>.down
// (1 when down), and each fact as health.<check>.<fact> (such as
// health.queue.email-sync.deadLetters). A nil monitor emits nothing.
func Emit(ctx context.Context, mon *monitor.Monitor, rep Report) {
	if mon == nil {
		return
	}
	names := make([]string, 0, len(rep.Checks))
	for name := range rep.Checks {
		names = append(names, name)
	}
	sort.Strings(names)
	var ms []monitor.Metric
	for _, name := range names {
		c := rep.Checks[name]
		down := 0.0
		if c.Status == Down {
			down = 1
		}
		ms = append(ms,
			monitor.Metric{Name: "health." + name + ".latencyMs", Unit: monitor.Milliseconds, Value: float64(c.Latency.Microseconds()) / 1000},
			monitor.Metric{Name: "health." + name + ".down", Unit: monitor.Count, Value: down})
		facts := make([]string, 0, len(c.Facts))
		for f := range c.Facts {
			facts = append(facts, f)
		}
		sort.Strings(facts)
		for _, f := range facts {
			ms = append(ms, monitor.Metric{Name: "health." + name + "." + f, Unit: monitor.Count, Value: c.Facts[f]})
		}
	}
	mon.Emit(ctx, ms...)
}

// CachedOptions configure a Cached.
type CachedOptions struct {
	Log     *slog.Logger
	Monitor *monitor.Monitor
	Checks  []Check
	// Every is how long a report is served before the checks run again;
	// zero is DefaultEvery.
	Every time.Duration
	// Timeout bounds each check; zero is DefaultTimeout.
	Timeout time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Cached runs the checks at most once per period, and shares the run
// between the callers that arrive while it goes on. Each run's figures
// are emitted as metrics. It is safe for concurrent use.
type Cached struct {
	o      CachedOptions
	flight singleflight.Group

	mu   sync.Mutex
	last Report
	at   time.Time
	ok   bool
}

// NewCached returns a Cached over o's checks.
func NewCached(o CachedOptions) *Cached {
	if o.Every <= 0 {
		o.Every = DefaultEvery
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Cached{o: o}
}

// Report returns the last report when it is younger than the period, else
// runs the checks (once for every caller waiting at that moment). A
// caller that gives up does not cancel the run the others wait for.
func (c *Cached) Report(ctx context.Context) Report {
	c.mu.Lock()
	if c.ok && c.o.Now().Sub(c.at) < c.o.Every {
		rep := c.last
		c.mu.Unlock()
		return rep
	}
	c.mu.Unlock()
	v, _, _ := c.flight.Do("run", func() (any, error) {
		// A run that ended just before this one began is fresh enough.
		c.mu.Lock()
		if c.ok && c.o.Now().Sub(c.at) < c.o.Every {
			rep := c.last
			c.mu.Unlock()
			return rep, nil
		}
		c.mu.Unlock()
		rctx := context.WithoutCancel(ctx)
		rep := Run(rctx, c.o.Log, c.o.Timeout, c.o.Checks...)
		Emit(rctx, c.o.Monitor, rep)
		c.mu.Lock()
		c.last, c.at, c.ok = rep, c.o.Now(), true
		c.mu.Unlock()
		return rep, nil
	})
	return v.(Report)
}
