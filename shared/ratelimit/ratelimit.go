// Package ratelimit enforces the rate limits of the catalog's routes
// (catalog.Function.Limit): per signed-in user on signed routes, per client
// IP on public ones.
//
// The algorithm is GCRA (the generic cell rate algorithm): each caller has
// a theoretical arrival time, and a request is allowed while it lies within
// the burst allowance. It needs one value per caller and one round trip,
// answers exactly how long to wait, and is what the Redis backend runs
// through github.com/go-redis/redis_rate (the in-memory backend runs the
// same steps). Limits are shared by every instance of a function through
// Redis.
//
// The limiter fails open: when the cache cannot be reached, requests are
// allowed and the log says that limits are not enforced. Cost-bearing
// routes (catalog.Function.CostBearing) fail closed instead: without a
// count there is no bound on what a caller spends, so they are refused
// with 503 until the cache answers again.
package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/monitor"
)

// Limiter decides whether a caller may call a route once more.
type Limiter struct {
	c   *cache.Cache
	log *slog.Logger
	mon *monitor.Monitor
	// lastOpen is when failing open was last logged (unix nanoseconds),
	// so a dead cache gives a line a minute, not one a request.
	lastOpen atomic.Int64
}

// ErrFailClosed is the message of a cost-bearing route's refusal while its
// limit cannot be enforced.
const ErrFailClosed = "This request cannot be rate limited right now; try again shortly"

// failOpenEvery spaces the "not enforced" log lines.
const failOpenEvery = time.Minute

// New returns a limiter keeping its counts in c.
func New(c *cache.Cache, log *slog.Logger, mon *monitor.Monitor) *Limiter {
	if log == nil {
		log = logging.Discard()
	}
	return &Limiter{c: c, log: log, mon: mon}
}

// Allow takes one call of route by caller ("u:<user id>" or "ip:<address>")
// from its budget under limit l. Errors: RateLimited with how long to wait.
// When the count cannot be kept (the cache is down), a failClosed route's
// call is refused with Unavailable, whose RetryAfter is when the cache is
// tried again (counted as RateLimitFailClosed); any other route's call is
// allowed (fails open): logged and counted (RateLimitFailOpen).
func (l *Limiter) Allow(ctx context.Context, route, caller string, lim catalog.Limit, failClosed bool) error {
	r := Rate(lim)
	d, err := l.c.Allow(ctx, route+":"+caller, r)
	if err != nil && failClosed {
		l.mon.Count(ctx, "RateLimitFailClosed", 1)
		return &errs.Error{Kind: errs.KindUnavailable, Message: ErrFailClosed,
			RetryAfter: l.c.RetryAfter(), Err: fmt.Errorf("rate limit of %s: %w", route, err)}
	}
	if err != nil {
		l.mon.Count(ctx, "RateLimitFailOpen", 1)
		now := time.Now().UnixNano()
		last := l.lastOpen.Load()
		if now-last >= int64(failOpenEvery) && l.lastOpen.CompareAndSwap(last, now) {
			l.log.WarnContext(ctx, "rate limit not enforced: cache unavailable", "route", route)
		}
		return nil
	}
	if !d.Allowed {
		l.mon.Count(ctx, "RateLimited", 1)
		return errs.RateLimit(d.RetryAfter)
	}
	return nil
}

// Rate is the cache's rate for a catalog limit: a zero Burst allows the
// whole window's requests at once.
func Rate(lim catalog.Limit) cache.Rate {
	burst := lim.Burst
	if burst <= 0 {
		burst = lim.Requests
	}
	return cache.Rate{Requests: lim.Requests, Per: lim.Per, Burst: burst}
}
