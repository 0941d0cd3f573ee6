// Package maintenance is the daily maintenance operation: it deletes what
// has expired and seals provider tokens again with the newest key.
package maintenance

import (
	"context"
	"log/slog"
	"time"

	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/sealbox"
)

// New builds the maintenance operation of app's function:
// JOBS_RETENTION_DAYS and TOKEN_KEYS as configured.
func New(app *platform.App) (platform.Op, error) {
	tokenKeys, err := app.Config.TokenBox()
	if err != nil {
		return nil, err
	}
	retention := time.Duration(app.Config.JobsRetentionDays) * 24 * time.Hour
	return Maintenance(app.DB, retention, tokenKeys, app.Log), nil
}

// Report says what Maintenance deleted and sealed again.
type Report struct {
	FinishedJobsDeleted int64        `json:"finishedJobsDeleted"`
	StaleJobsExpired    int64        `json:"staleJobsExpired"`
	Expired             auth.Expired `json:"expired"`
	// TokenKeys counts the accounts whose provider tokens were sealed
	// again with the newest TOKEN_KEYS key, those holding a token no key
	// opens, and those still on an older key (stale: 0 means the older
	// keys can be removed).
	TokenKeys google.RekeyReport `json:"tokenKeys"`
}

// LogValue logs the report as its JSON reads.
func (r Report) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int64("finishedJobsDeleted", r.FinishedJobsDeleted),
		slog.Int64("staleJobsExpired", r.StaleJobsExpired),
		slog.Group("expired",
			slog.Int64("sessions", r.Expired.Sessions),
			slog.Int64("verificationTokens", r.Expired.VerificationTokens)),
		slog.Group("tokenKeys",
			slog.Int64("reencrypted", r.TokenKeys.Reencrypted),
			slog.Int64("undecryptable", r.TokenKeys.Undecryptable),
			slog.Int64("stale", r.TokenKeys.Stale)))
}

// StaleAfter is how long a sent, failed or running job may go without
// change before Maintenance gives it up: past the queues' four days of
// message retention, its message is gone.
const StaleAfter = 5 * 24 * time.Hour

// Maintenance deletes finished jobs older than retention, gives up jobs
// whose message is gone, deletes expired sessions and verification
// tokens, and seals provider tokens sealed with an older key of tokenKeys
// again with its newest (logging to log the accounts whose tokens no key
// opens).
func Maintenance(pool *db.Pool, retention time.Duration, tokenKeys *sealbox.Box, log *slog.Logger) platform.Op {
	return func(ctx context.Context) (any, error) {
		var r Report
		var err error
		now := time.Now()
		if r.FinishedJobsDeleted, err = queue.DeleteFinished(ctx, pool, now.Add(-retention)); err != nil {
			return r, err
		}
		if r.StaleJobsExpired, err = queue.ExpireStale(ctx, pool, now.Add(-StaleAfter)); err != nil {
			return r, err
		}
		if r.Expired, err = auth.DeleteExpired(ctx, pool); err != nil {
			return r, err
		}
		r.TokenKeys, err = google.Rekey(ctx, pool, tokenKeys, google.RekeyOptions{Log: log})
		return r, err
	}
}
