// Package workers holds the handler of every job type and scheduled
// operation, with their dependencies: the Lambda mains under functions/jobs
// and functions/ops each wire one, and the local server runs them all.
package workers

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/domain/meeting"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/monitor"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/worker"
	"github.com/personalcrm/core/shared/sealbox"
)

// Deps are what the handlers need.
type Deps struct {
	Log     *slog.Logger
	Monitor *monitor.Monitor
	DB      *db.Pool
	// Backend changes the visibility of failed messages; nil leaves them
	// to the queue's visibility timeout.
	Backend queue.Backend
	// Worker tunes the job adapters (backoff, concurrency).
	Worker worker.Options
	// Extraction decides whose addresses make contacts.
	Extraction email.Policy
	// Cache holds the reads that the jobs' writes invalidate; nil is none.
	Cache *cache.Cache
}

// Options are the job adapters' options, with the logger and monitor of
// d where Worker leaves them unset.
func (d Deps) Options() worker.Options {
	o := d.Worker
	if o.Log == nil {
		o.Log = d.Log
	}
	if o.Monitor == nil {
		o.Monitor = d.Monitor
	}
	return o
}

// Jobs returns the worker of every job type of the catalog, given those
// built by packages of their own, which only their function and the
// local server link: email-sync's (mailsync.Worker, with the Gmail
// client), enrichment's (enrich.Worker, with the People API client),
// ai-analysis's (aianalysis.Worker, with the OpenAI client) and
// calendar-sync's (calendarsync.Worker, with the Calendar client).
func Jobs(d Deps, own ...*worker.Worker) []*worker.Worker {
	return append(own, ContactExtraction(d))
}

// ContactExtraction records the people of one email as the user's
// contacts. An email that is gone (deleted with its user, or by the user)
// leaves nothing to do.
func ContactExtraction(d Deps) *worker.Worker {
	emails := email.NewService(d.DB)
	contacts := contact.NewService(d.DB, contact.WithCache(d.Cache))
	log := d.Log
	if log == nil {
		log = logging.Discard()
	}
	h := func(ctx context.Context, job queue.Job, p queue.ContactExtraction) error {
		ex, err := emails.Participants(ctx, p.UserID, p.EmailID, d.Extraction)
		if errs.Is(err, errs.KindNotFound) {
			log.InfoContext(ctx, "email gone; nothing to extract", "email_id", p.EmailID)
			return nil
		}
		if err != nil {
			return fmt.Errorf("read email %s: %w", p.EmailID, err)
		}
		in := contact.Interaction{EmailID: p.EmailID, At: ex.Email.At(), Participants: make([]contact.Participant, len(ex.Participants))}
		for i, pt := range ex.Participants {
			in.Participants[i] = contact.Participant{Email: pt.Email, Name: pt.Name, Role: pt.Role}
		}
		rec, err := contacts.RecordInteraction(ctx, p.UserID, in)
		if errs.Is(err, errs.KindNotFound) {
			log.InfoContext(ctx, "email gone; nothing to extract", "email_id", p.EmailID)
			return nil
		}
		if err != nil {
			return fmt.Errorf("record contacts of email %s: %w", p.EmailID, err)
		}
		log.DebugContext(ctx, "contacts extracted", "email_id", p.EmailID,
			"participants", len(in.Participants), "linked", rec.Linked)
		return nil
	}
	return worker.New(catalog.MustLookup(catalog.ContactExtraction), d.DB, d.Backend, h, d.Options())
}

// Op is a scheduled or deploy-time operation.
type Op struct {
	Function catalog.Function
	Run      func(ctx context.Context) (any, error)
}

// Relay sends the jobs the outbox holds that are due.
func Relay(q *queue.Queue) Op {
	return Op{Function: catalog.MustLookup(catalog.OutboxRelay), Run: func(ctx context.Context) (any, error) {
		return q.Relay(ctx, queue.RelayOptions{})
	}}
}

// MaintenanceReport says what Maintenance deleted and sealed again.
type MaintenanceReport struct {
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
func (r MaintenanceReport) LogValue() slog.Value {
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
func Maintenance(pool *db.Pool, retention time.Duration, tokenKeys *sealbox.Box, log *slog.Logger) Op {
	return Op{Function: catalog.MustLookup(catalog.Maintenance), Run: func(ctx context.Context) (any, error) {
		var r MaintenanceReport
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
	}}
}

// SyncAccountsReport says what SyncAccounts found and enqueued.
type SyncAccountsReport struct {
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
func (r SyncAccountsReport) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("due", r.Due), slog.Int("enqueued", r.Enqueued),
		slog.Int("skipped", r.Skipped), slog.Bool("complete", r.Complete), slog.Int("calendars", r.Calendars))
}

// SyncAccountsOptions tune SyncAccounts.
type SyncAccountsOptions struct {
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
func SyncAccounts(pool *db.Pool, q *queue.Queue, o SyncAccountsOptions) Op {
	if o.Batch <= 0 {
		o.Batch = DefaultSyncBatch
	}
	if o.Fresh <= 0 {
		o.Fresh = catalog.MailSyncPeriod / 2
	}
	fn := catalog.MustLookup(catalog.SyncAccounts)
	syncs := email.NewSyncs(pool, q)
	calendars := meeting.NewService(pool, nil, nil, q)
	return Op{Function: fn, Run: func(ctx context.Context) (any, error) {
		var r SyncAccountsReport
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
	}}
}
