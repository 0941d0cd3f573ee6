// Package syncaccounts is the sync-accounts operation: on its schedule, it
// enqueues the mail syncs that are due.
package syncaccounts

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/domain/meeting"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
)

// New builds the sync-accounts operation of app's function, enqueuing on
// SQS.
func New(app *platform.App) (platform.Op, error) {
	return SyncAccounts(app.DB, sqsqueue.Queue(app), Options{}), nil
}

// Report says what SyncAccounts found and enqueued.
type Report struct {
	// Due counts the accounts whose sync was due.
	Due int `json:"due"`
	// Enqueued counts the syncs enqueued now; the other due accounts had
	// one waiting or running already.
	Enqueued int `json:"enqueued"`
	// Skipped counts, in a complete run, the Google accounts left out
	// until their person signs in again: the grant is gone or leaves
	// Gmail out.
	Skipped int `json:"skipped"`
	// Complete is false when the run stopped near its deadline and left
	// due accounts to the next run.
	Complete bool `json:"complete"`
	// Calendars counts the calendar syncs enqueued (meeting.RequestDue).
	Calendars int `json:"calendars"`
}

// LogValue logs the report as its JSON reads.
func (r Report) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("due", r.Due), slog.Int("enqueued", r.Enqueued),
		slog.Int("skipped", r.Skipped), slog.Bool("complete", r.Complete), slog.Int("calendars", r.Calendars))
}

// Options tune SyncAccounts.
type Options struct {
	// Batch is how many accounts one transaction enqueues; default
	// DefaultSyncBatch.
	Batch int
	// Fresh is how recent an account's last sync may be for it to be
	// skipped; default half of catalog.MailSyncPeriod. Less than the
	// period, since the sync a run enqueues ends a little after the run:
	// at the next run it is not quite a period old, yet due.
	Fresh time.Duration
}

// DefaultSyncBatch is SyncAccounts' default batch.
const DefaultSyncBatch = 200

// SyncAccounts enqueues an incremental email-sync of every Google account
// that can sync (Gmail granted, a refresh token, no need for consent) and
// whose last sync is older than o.Fresh or never came up to date, and no
// run holds. It goes by account id in batches, each in one transaction,
// and stops early, leaving the rest to the next run, when its deadline
// nears. One sync waits or runs per account, so a run right after another
// enqueues nothing new. Then it enqueues the calendar syncs that are due
// (meeting.Service.RequestDue).
func SyncAccounts(pool *db.Pool, q *queue.Queue, o Options) platform.Op {
	if o.Batch <= 0 {
		o.Batch = DefaultSyncBatch
	}
	if o.Fresh <= 0 {
		o.Fresh = catalog.MailSyncPeriod / 2
	}
	syncs := email.NewSyncs(pool, q)
	calendars := meeting.NewService(pool, nil, nil, q)
	return func(ctx context.Context) (any, error) {
		var r Report
		start := time.Now()
		before := start.Add(-o.Fresh)
		// It starts no batch in the last quarter of the time it has.
		var stopAt time.Time
		if dl, ok := ctx.Deadline(); ok {
			stopAt = dl.Add(-dl.Sub(start) / 4)
		}
		after := uuid.Nil
		for {
			if !stopAt.IsZero() && !time.Now().Before(stopAt) {
				return r, nil
			}
			due, err := syncs.Due(ctx, before, after, o.Batch)
			if err != nil {
				return r, err
			}
			n, err := syncs.RequestEach(ctx, due)
			if err != nil {
				return r, err
			}
			r.Due += len(due)
			r.Enqueued += n
			if len(due) < o.Batch {
				if r.Calendars, err = calendars.RequestDue(ctx, before, stopAt); err != nil {
					return r, err
				}
				r.Skipped, err = syncs.Unsyncable(ctx)
				r.Complete = err == nil
				return r, err
			}
			after = due[len(due)-1].ID
		}
	}
}
