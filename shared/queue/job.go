package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
)

// State is where a job is in its life.
type State string

// The states of a job.
const (
	// Pending: written in its producer's transaction, not yet sent.
	Pending State = "pending"
	// Sent: its message is on the job type's queue.
	Sent State = "sent"
	// Running: a worker has claimed it.
	Running State = "running"
	// Succeeded: done; a later delivery of its message does nothing.
	Succeeded State = "succeeded"
	// Failed: an attempt failed; its message comes back after a backoff.
	Failed State = "failed"
	// Dead: failed for good, after its last attempt or a permanent error;
	// its message goes to the dead-letter queue.
	Dead State = "dead"
)

// Finished reports whether s is a final state.
func (s State) Finished() bool { return s == Succeeded || s == Dead }

// Job is one job's row.
type Job struct {
	ID     uuid.UUID  `db:"id"`
	Kind   string     `db:"kind"`
	UserID *uuid.UUID `db:"user_id"`
	// Payload is the job's data: the JSON form of its kind's payload type.
	Payload      json.RawMessage `db:"payload"`
	State        State           `db:"state"`
	Attempts     int             `db:"attempts"`
	MaxAttempts  int             `db:"max_attempts"`
	RunAt        time.Time       `db:"run_at"`
	SingletonKey *string         `db:"singleton_key"`
	// LastError is safe to show the job's user; Error is for operators.
	LastError   *string    `db:"last_error"`
	Error       *string    `db:"error"`
	LockedUntil *time.Time `db:"locked_until"`
	CreatedAt   time.Time  `db:"created_at"`
	UpdatedAt   time.Time  `db:"updated_at"`
	SentAt      *time.Time `db:"sent_at"`
	StartedAt   *time.Time `db:"started_at"`
	FinishedAt  *time.Time `db:"finished_at"`

	// Existing is set by Enqueue when a singleton key matched a job that
	// was already waiting or running: this is that job, and nothing new
	// was written.
	Existing bool `db:"-"`
}

// columns is the select list of Job; qualified is the same with the
// table's name, for statements that join.
const (
	columns = `id, kind, user_id, payload, state, attempts, max_attempts, run_at, singleton_key,
	last_error, error, locked_until, created_at, updated_at, sent_at, started_at, finished_at`
	qualified = `jobs.id, jobs.kind, jobs.user_id, jobs.payload, jobs.state, jobs.attempts, jobs.max_attempts,
	jobs.run_at, jobs.singleton_key, jobs.last_error, jobs.error, jobs.locked_until, jobs.created_at,
	jobs.updated_at, jobs.sent_at, jobs.started_at, jobs.finished_at`
)

func scanJob(rows pgx.Rows, err error) (Job, error) {
	if err != nil {
		return Job{}, db.Err(err, "job")
	}
	j, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Job])
	return j, db.Err(err, "job")
}

func scanJobs(rows pgx.Rows, err error) ([]Job, error) {
	if err != nil {
		return nil, db.Err(err, "job")
	}
	js, err := pgx.CollectRows(rows, pgx.RowToStructByName[Job])
	return js, db.Err(err, "job")
}

// MaxDelay is how far ahead SQS itself can delay a message; a job due
// later stays in the outbox until the relay finds it due within this.
const MaxDelay = 15 * time.Minute

// MaxSingletonKey bounds a singleton key, in bytes.
const MaxSingletonKey = 200

// Option changes how Enqueue writes a job.
type Option func(*options)

type options struct {
	runAt     time.Time
	delay     time.Duration
	singleton string
}

// Delay makes the job due d from now. Delays beyond MaxDelay are kept in
// the outbox and sent by the relay when due.
func Delay(d time.Duration) Option { return func(o *options) { o.delay = d } }

// RunAt makes the job due at t.
func RunAt(t time.Time) Option { return func(o *options) { o.runAt = t } }

// Singleton makes the job unique among the jobs of its kind that are
// waiting or running with the same key: while one is, Enqueue returns it
// instead of writing another.
func Singleton(key string) Option { return func(o *options) { o.singleton = key } }

// Enqueue writes a job with payload p in the caller's transaction tx: the
// row is the outbox, so the job exists exactly when the transaction
// commits. Enqueue does not send it: after commit, Queue.Send does (or
// Queue.InTx, which calls it), and the outbox relay sends whatever was
// left unsent. The job's max attempts are its type's, from the catalog.
//
// With Singleton, a job of the same kind and key that is waiting or
// running is returned instead, with Existing set.
// Errors: Invalid (a payload that fails validation, an unknown kind, bad
// options); the database's errors otherwise.
func Enqueue(ctx context.Context, tx db.Querier, p Payload, opts ...Option) (Job, error) {
	fn, ok := catalog.Lookup(p.Kind())
	if !ok || fn.Kind != catalog.Job {
		return Job{}, fmt.Errorf("enqueue: %w", errs.Field("kind", fmt.Sprintf("%q is not a job type", p.Kind())))
	}
	if err := p.Validate(); err != nil {
		return Job{}, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.delay < 0 {
		return Job{}, errs.Field("delay", "must not be negative")
	}
	key := strings.TrimSpace(o.singleton)
	if o.singleton != "" && (key == "" || len(key) > MaxSingletonKey) {
		return Job{}, errs.Field("singletonKey", fmt.Sprintf("must be 1 to %d bytes", MaxSingletonKey))
	}
	payload, err := json.Marshal(p)
	if err != nil {
		return Job{}, fmt.Errorf("encode %s payload: %w", p.Kind(), err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Job{}, err
	}
	var owner *uuid.UUID
	if ow, ok := p.(Owned); ok {
		u := ow.Owner()
		owner = &u
	}
	var runAt *time.Time // null: the database's now()
	if !o.runAt.IsZero() {
		runAt = &o.runAt
	}
	var single *string
	if key != "" {
		single = &key
	}

	rows, err := tx.Query(ctx, `insert into jobs (id, kind, user_id, payload, max_attempts, run_at, singleton_key)
		values ($1, $2, $3, $4, $5, coalesce($6, now()) + $8::interval, $7)
		on conflict (kind, singleton_key) where singleton_key is not null and state in ('pending', 'sent', 'running', 'failed')
		do nothing
		returning `+columns,
		id, p.Kind(), owner, string(payload), fn.MaxAttempts, runAt, single, o.delay)
	j, err := scanJob(rows, err)
	if err == nil || single == nil || !errs.Is(err, errs.KindNotFound) {
		if err != nil {
			return Job{}, fmt.Errorf("enqueue %s: %w", p.Kind(), err)
		}
		return j, nil
	}
	// The key is taken: return the job that holds it.
	j, err = scanJob(tx.Query(ctx, `select `+columns+` from jobs
		where kind = $1 and singleton_key = $2 and state in ('pending', 'sent', 'running', 'failed')`, p.Kind(), key))
	if err != nil {
		return Job{}, fmt.Errorf("enqueue %s: find singleton %q: %w", p.Kind(), key, err)
	}
	j.Existing = true
	return j, nil
}

// EnqueueAll writes a job for each of ps in the caller's transaction tx,
// in one statement, due now and without options: what Enqueue does for
// each, for the many jobs of one page of work. It returns the jobs in the
// order of ps. Errors: as Enqueue's; an invalid payload writes none.
func EnqueueAll(ctx context.Context, tx db.Querier, ps []Payload) ([]Job, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	// Text, since statements are not described first (see db.Open).
	ids := make([]string, len(ps))
	kinds := make([]string, len(ps))
	owners := make([]*string, len(ps))
	payloads := make([]string, len(ps))
	attempts := make([]int32, len(ps))
	for i, p := range ps {
		fn, ok := catalog.Lookup(p.Kind())
		if !ok || fn.Kind != catalog.Job {
			return nil, fmt.Errorf("enqueue: %w", errs.Field("kind", fmt.Sprintf("%q is not a job type", p.Kind())))
		}
		if err := p.Validate(); err != nil {
			return nil, err
		}
		payload, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encode %s payload: %w", p.Kind(), err)
		}
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		if ow, ok := p.(Owned); ok {
			u := ow.Owner().String()
			owners[i] = &u
		}
		ids[i], kinds[i], payloads[i], attempts[i] = id.String(), p.Kind(), string(payload), int32(fn.MaxAttempts)
	}
	rows, err := tx.Query(ctx, `insert into jobs (id, kind, user_id, payload, max_attempts, run_at)
		select t.id, t.kind, t.user_id, t.payload::jsonb, t.max_attempts, now()
		from unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::int[]) with ordinality
			as t(id, kind, user_id, payload, max_attempts, n)
		order by t.n
		returning `+columns, ids, kinds, owners, payloads, attempts)
	js, err := scanJobs(rows, err)
	if err != nil {
		return nil, fmt.Errorf("enqueue %d jobs: %w", len(ps), err)
	}
	byID := make(map[uuid.UUID]Job, len(js))
	for _, j := range js {
		byID[j.ID] = j
	}
	out := make([]Job, len(ps))
	for i, id := range ids {
		out[i] = byID[uuid.MustParse(id)]
	}
	return out, nil
}

// Get returns the user's job id. Jobs of other users, and system jobs,
// are NotFound. Errors: NotFound.
func Get(ctx context.Context, q db.Querier, userID, id uuid.UUID) (Job, error) {
	return scanJob(q.Query(ctx, `select `+columns+` from jobs where id = $1 and user_id = $2`, id, userID))
}

// Reader reads users' jobs.
type Reader struct{ db db.Querier }

// NewReader returns a Reader on q.
func NewReader(q db.Querier) *Reader { return &Reader{db: q} }

// Get returns the user's job id. Errors: NotFound, also for another
// user's job.
func (r *Reader) Get(ctx context.Context, userID, id uuid.UUID) (Job, error) {
	return Get(ctx, r.db, userID, id)
}
