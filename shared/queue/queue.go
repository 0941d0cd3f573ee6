// Package queue runs background jobs on a message queue (SQS in AWS, in
// memory locally) with a transactional outbox in PostgreSQL.
//
// A producer calls Enqueue inside its own database transaction: the job's
// row in the jobs table is the outbox, so a job exists exactly when the
// producer's transaction commits. After commit the job is sent to its
// type's queue (Queue.Send, or Queue.InTx which does it), and the outbox
// relay (Queue.Relay, run every minute) sends whatever was left unsent or
// was delayed beyond what the queue itself can delay.
//
// Consumers are in shared/queue/worker: they claim a job's row before
// running it, so a message delivered twice has its effect once.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/logging"
)

// Store is the database of the jobs table.
type Store interface {
	db.Querier
	db.Beginner
}

// Queue sends jobs written to the outbox.
type Queue struct {
	db      Store
	backend Backend
	log     *slog.Logger
	now     func() time.Time
}

// New returns the queue of the jobs in store, sent through b. Without a
// backend (nil b) jobs stay in the outbox.
func New(store Store, b Backend, log *slog.Logger) *Queue {
	if log == nil {
		log = logging.Discard()
	}
	return &Queue{db: store, backend: b, log: log, now: time.Now}
}

// Tx is a database transaction that can enqueue jobs; see Queue.InTx.
type Tx struct {
	db.Tx
	jobs []Job
}

// Enqueue writes a job in the transaction, to be sent after it commits.
// Errors: as the package's Enqueue.
func (t *Tx) Enqueue(ctx context.Context, p Payload, opts ...Option) (Job, error) {
	j, err := Enqueue(ctx, t.Tx, p, opts...)
	if err == nil && !j.Existing {
		t.jobs = append(t.jobs, j)
	}
	return j, err
}

// EnqueueAll writes jobs for ps in the transaction, in one statement,
// to be sent after it commits. Errors: as the package's EnqueueAll.
func (t *Tx) EnqueueAll(ctx context.Context, ps []Payload) ([]Job, error) {
	js, err := EnqueueAll(ctx, t.Tx, ps)
	if err == nil {
		t.jobs = append(t.jobs, js...)
	}
	return js, err
}

// InTx runs fn in a transaction; when it commits, the jobs fn enqueued
// through tx are sent. A failed send is logged and left to the relay: the
// jobs are committed, so the caller's work succeeded.
func (q *Queue) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	var sent []Job
	err := db.InTx(ctx, q.db, func(dtx db.Tx) error {
		t := &Tx{Tx: dtx}
		if err := fn(t); err != nil {
			return err
		}
		sent = t.jobs
		return nil
	})
	if err != nil {
		return err
	}
	_ = q.Send(ctx, sent...)
	return nil
}

// Send sends the messages of committed pending jobs that are due within
// MaxDelay and marks them sent. It is best effort: a job it cannot send
// stays pending for the relay. Failures are logged and returned.
func (q *Queue) Send(ctx context.Context, jobs ...Job) error {
	now := q.now()
	byKind := map[string][]Message{}
	for _, j := range jobs {
		if j.State != Pending || j.Existing {
			continue
		}
		delay := j.RunAt.Sub(now)
		if delay > MaxDelay {
			continue // the relay sends it when it is due
		}
		byKind[j.Kind] = append(byKind[j.Kind], Message{JobID: j.ID, Kind: j.Kind, Body: j.Payload, Delay: max(delay, 0)})
	}
	if q.backend == nil {
		return nil // they wait in the outbox
	}
	_, err := q.send(ctx, q.db, byKind)
	return err
}

var errNoBackend = errors.New("no queue backend: set the QUEUE_URL_* variables")

// send sends messages by kind and marks the jobs sent with dbq. It
// returns how many were sent.
func (q *Queue) send(ctx context.Context, dbq db.Querier, byKind map[string][]Message) (int, error) {
	if q.backend == nil {
		if len(byKind) > 0 {
			return 0, errNoBackend
		}
		return 0, nil
	}
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var failures []error
	var sent []uuid.UUID
	for _, kind := range kinds {
		ids, err := q.backend.Send(ctx, kind, byKind[kind])
		sent = append(sent, ids...)
		if err != nil {
			q.log.WarnContext(ctx, "jobs not sent; the relay will send them", "kind", kind,
				"jobs", len(byKind[kind])-len(ids), "err", err)
			failures = append(failures, fmt.Errorf("send %s jobs: %w", kind, err))
		}
	}
	if len(sent) > 0 {
		// Text, since statements are not described first (see db.Open).
		ids := make([]string, len(sent))
		for i, id := range sent {
			ids[i] = id.String()
		}
		// A job claimed meanwhile by a worker is no longer pending and
		// keeps its state. The rows are locked in id order, as a claim
		// locks them, so that the two never deadlock over a batch.
		if _, err := dbq.Exec(ctx, `update jobs set state = 'sent', sent_at = now(), updated_at = now()
			from (select id from jobs where id = any($1::uuid[]) and state = 'pending' order by id for update) as l
			where jobs.id = l.id and jobs.state = 'pending'`, ids); err != nil {
			q.log.WarnContext(ctx, "jobs sent but not marked sent; the relay may send them again", "jobs", len(sent), "err", err)
			failures = append(failures, fmt.Errorf("mark jobs sent: %w", db.Err(err, "job")))
		}
	}
	return len(sent), errors.Join(failures...)
}

// RelayOptions tune Relay.
type RelayOptions struct {
	// Grace leaves jobs younger than this to their producer's own send,
	// so that the relay rarely sends a job twice. Default 10s.
	Grace time.Duration
	// Page is how many jobs one transaction sends. Default 500.
	Page int
}

// RelayResult counts what Relay did.
type RelayResult struct {
	Sent int `json:"sent"`
}

// LogValue logs the result as its JSON reads.
func (r RelayResult) LogValue() slog.Value { return slog.GroupValue(slog.Int("sent", r.Sent)) }

// Relay sends the pending jobs that are due within MaxDelay (less a
// minute, the relay's period), oldest due first, each with the delay left
// until it is due. It works in pages until none is left or ctx ends.
// Concurrent relays skip each other's rows.
func (q *Queue) Relay(ctx context.Context, o RelayOptions) (RelayResult, error) {
	if o.Grace == 0 {
		o.Grace = 10 * time.Second
	}
	if o.Grace < 0 {
		o.Grace = 0
	}
	if o.Page <= 0 {
		o.Page = 500
	}
	var res RelayResult
	for {
		n, err := q.relayPage(ctx, o)
		res.Sent += n
		if err != nil || n < o.Page {
			return res, err
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
	}
}

// relayHorizon is how far ahead the relay sends: SQS delays up to 15
// minutes and the relay runs every minute.
const relayHorizon = MaxDelay - time.Minute

func (q *Queue) relayPage(ctx context.Context, o RelayOptions) (int, error) {
	found, sent := 0, 0
	var sendErr error
	err := db.InTx(ctx, q.db, func(tx db.Tx) error {
		found, sent, sendErr = 0, 0, nil // InTx may run this twice
		rows, err := tx.Query(ctx, `select id, kind, payload,
				greatest(0, ceil(extract(epoch from run_at - now())))::bigint as delay_s
			from jobs
			where state = 'pending' and run_at <= now() + $1::interval and created_at <= now() - $2::interval
			order by run_at
			limit $3
			for update skip locked`, relayHorizon, o.Grace, o.Page)
		if err != nil {
			return db.Err(err, "job")
		}
		byKind := map[string][]Message{}
		for rows.Next() {
			var m Message
			var delay int64
			if err := rows.Scan(&m.JobID, &m.Kind, &m.Body, &delay); err != nil {
				rows.Close()
				return db.Err(err, "job")
			}
			m.Delay = time.Duration(delay) * time.Second
			byKind[m.Kind] = append(byKind[m.Kind], m)
			found++
		}
		if err := rows.Err(); err != nil {
			return db.Err(err, "job")
		}
		if found == 0 {
			return nil
		}
		// What was sent is marked and committed even when some sends
		// failed; the rest waits for the next run.
		sent, sendErr = q.send(ctx, tx, byKind)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("relay: %w", err)
	}
	if sendErr != nil {
		return sent, fmt.Errorf("relay: %w", sendErr)
	}
	return found, nil
}
