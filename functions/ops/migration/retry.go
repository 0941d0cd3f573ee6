package migration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/personalcrm/core/shared/db/migrate"
)

// connectTimeout bounds one connection attempt.
const connectTimeout = 10 * time.Second

// backoff is how long to wait between attempts to reach the database,
// and how much of the invocation to keep for the migration itself.
type backoff struct {
	first, max time.Duration
	// reserve is the least time left for an attempt to start: a migration
	// cut off by the timeout rolls back, and the deploy fails anyway.
	reserve time.Duration
}

// defaultBackoff waits 2s, 4s, ... 30s: a new RDS Proxy refuses or times
// out connections for its first few minutes, and the IAM permission that
// admits the function takes a while to reach it.
var defaultBackoff = backoff{first: 2 * time.Second, max: 30 * time.Second, reserve: time.Minute}

// untilReachable runs attempt until it succeeds, fails for a reason other
// than reaching the database (a migration that fails is returned at
// once), or too little of ctx's time is left to try again.
func untilReachable(ctx context.Context, log *slog.Logger, b backoff, attempt func(context.Context) (migrate.Result, error)) (migrate.Result, error) {
	wait := b.first
	var last error
	for n := 1; ; n++ {
		res, err := attempt(ctx)
		if err == nil || !unreachable(err) {
			return res, err
		}
		// An attempt cut short by the deadline says less than the
		// failure before it.
		if ctx.Err() != nil && last != nil {
			err = last
		}
		last = err
		// Full jitter around the doubling wait, never below half of it.
		sleep := wait/2 + rand.N(wait/2+1)
		if d, ok := ctx.Deadline(); ok && time.Until(d) < sleep+b.reserve {
			return res, fmt.Errorf("database unreachable after %d attempts: %w", n, err)
		}
		log.WarnContext(ctx, "database unreachable; retrying", "attempt", n, "retry_in_ms", sleep.Milliseconds(), "err", err)
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return res, fmt.Errorf("database unreachable after %d attempts: %w", n, err)
		case <-t.C:
		}
		wait = min(2*wait, b.max)
	}
}

// unreachable reports whether err is a failure to open a connection
// (refused, timed out, TLS, or the server or proxy refusing the sign-in),
// as opposed to an error from a statement of a migration.
func unreachable(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne)
}
