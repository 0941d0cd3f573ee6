// Package worker runs job handlers on batches of SQS messages: the
// adapter between Lambda's SQS event source (events.SQSEvent in,
// events.SQSEventResponse with the failed items out) and a typed handler.
//
// For each message it decodes the typed payload, claims the job's row so
// that a duplicate delivery of a job that is running or finished does
// nothing, runs the handler within the invocation's deadline and records
// the outcome. A failed message alone is reported; its visibility is
// pushed out by a capped exponential backoff with jitter. After the job
// type's max attempts, or at once for a permanent error, the row says dead
// and the message is released at once, so the queue's redrive policy moves
// it to the dead-letter queue. A message that cannot be read is recorded
// and takes the same way, never retried forever.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/monitor"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
)

// Handler runs one job with its typed payload. It returns nil when the job
// is done and an error to have it retried after a backoff, until its
// type's max attempts. Errors that retrying cannot fix end the job at
// once: those marked with queue.Permanent, and those of the kinds Invalid,
// NotFound, Forbidden and Unauthenticated. A RateLimited error is retried
// no sooner than its RetryAfter.
//
// A job may run more than once (a crash after its work and before its
// outcome is recorded), so a handler must be safe to run twice.
type Handler[P queue.Payload] func(ctx context.Context, job queue.Job, p P) error

// JobsHandler runs the claimed jobs of one batch together, job i with
// payload ps[i], and returns one error per job, in order: nil when that job
// is done, else what Handler's error would be. Each job's outcome is
// recorded on its own, as for a Handler, and each job must be safe to
// run twice.
type JobsHandler[P queue.Payload] func(ctx context.Context, jobs []queue.Job, ps []P) []error

// DefaultConcurrency is how many messages of one batch run at once: the
// handlers mostly wait on the database, and a Lambda's pool has few
// connections.
const DefaultConcurrency = 4

// Options tune a Worker.
type Options struct {
	Log     *slog.Logger
	Monitor *monitor.Monitor
	// Backoff spaces retries; nil is queue.DefaultBackoff.
	Backoff *queue.Backoff
	// Concurrency is how many messages of one batch run at once; default
	// DefaultConcurrency.
	Concurrency int
}

// Worker handles the batches of one job type.
type Worker struct {
	fn      catalog.Function
	db      queue.Store
	backend queue.Backend
	o       Options
	backoff queue.Backoff
	decode  func([]byte) (queue.Payload, error)
	run     func(context.Context, queue.Job, queue.Payload) error
	// runMany, when set, runs a batch's claimed jobs together.
	runMany func(context.Context, []queue.Job, []queue.Payload) []error
	lease   time.Duration
}

// New returns the worker of job type fn, whose messages carry payloads of
// type P, run by h. Job rows are in store; backend changes the visibility
// of failed messages. It panics when fn is not a job or P is not its
// payload: a programming error the first test finds.
func New[P queue.Payload](fn catalog.Function, store queue.Store, backend queue.Backend, h Handler[P], o Options) *Worker {
	var zero P
	if fn.Kind != catalog.Job || zero.Kind() != fn.Name {
		panic(fmt.Sprintf("worker: %s is not the job type of %T", fn.Name, zero))
	}
	if o.Log == nil {
		o.Log = logging.Discard()
	}
	backoff := queue.DefaultBackoff
	if o.Backoff != nil {
		backoff = *o.Backoff
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	timeout := fn.Timeout
	if timeout <= 0 {
		timeout = catalog.DefaultTimeout
	}
	return &Worker{
		fn: fn, db: store, backend: backend, o: o, backoff: backoff,
		decode: func(b []byte) (queue.Payload, error) { return queue.Decode[P](b) },
		run:    func(ctx context.Context, j queue.Job, p queue.Payload) error { return h(ctx, j, p.(P)) },
		// A claim outlives the longest a handler may run.
		lease: timeout + time.Minute,
	}
}

// NewBatched returns the worker of job type fn whose claimed jobs of a
// batch run together through h, so that their work can share a
// transaction and round trips; it is New otherwise.
func NewBatched[P queue.Payload](fn catalog.Function, store queue.Store, backend queue.Backend, h JobsHandler[P], o Options) *Worker {
	one := func(ctx context.Context, j queue.Job, p P) error { return h(ctx, []queue.Job{j}, []P{p})[0] }
	w := New(fn, store, backend, one, o)
	w.runMany = func(ctx context.Context, jobs []queue.Job, ps []queue.Payload) []error {
		typed := make([]P, len(ps))
		for i, p := range ps {
			typed[i] = p.(P)
		}
		return h(ctx, jobs, typed)
	}
	return w
}

// Accepts reports why body is not a valid payload of the worker's job
// type (what a schedule that targets the job type must send), or nil.
func (w *Worker) Accepts(body []byte) error {
	_, err := w.decode(body)
	return err
}

// Function is the worker's catalog entry.
func (w *Worker) Function() catalog.Function { return w.fn }

// result is what became of one message.
type result int

const (
	done    result = iota // delete the message
	retry                 // report it; it comes back after its visibility
	settled               // report it; it is on its way to the dead-letter queue
)

// message is one record of a batch on its way through Handle.
type message struct {
	rec      *events.SQSMessage
	ctx      context.Context // carries the message's log attributes
	id       uuid.UUID
	receives int
	payload  queue.Payload
	job      queue.Job
	// ready: read and, if it came without a row, adopted; claim it.
	ready  bool
	result result
}

// Handle handles one batch: the Lambda handler of an SQS event source
// with ReportBatchItemFailures. Every message is decided on its own and
// the failed ones are returned; the batch's jobs are claimed together and
// their successes recorded together, so a batch costs the database two
// statements besides the handlers' own work. The error is always nil.
func (w *Worker) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	if w.o.Monitor != nil {
		// The handlers' calls to Google and OpenAI are timed with it.
		ctx = monitor.NewContext(ctx, w.o.Monitor)
	}
	msgs := make([]*message, len(ev.Records))
	var reqs []queue.ClaimRequest
	for i := range ev.Records {
		m := w.read(ctx, &ev.Records[i])
		msgs[i] = m
		if m.ready {
			reqs = append(reqs, queue.ClaimRequest{ID: m.id, ReceiveCount: m.receives})
		}
	}
	// A claim that certainly did not happen (the database restarting)
	// is tried again for a few seconds: one that may have happened is
	// not, since a second would find the jobs running and wait out the
	// lease.
	var claims queue.Claims
	err := db.Retry(ctx, recordWithin, db.NotRun, func() (err error) {
		claims, err = queue.ClaimAll(ctx, w.db, w.fn.Name, reqs, w.lease)
		return err
	})
	if err != nil {
		w.o.Log.WarnContext(ctx, "jobs not claimed; will retry", "err", err)
	}

	var run []*message
	seen := map[uuid.UUID]bool{}
	for _, m := range msgs {
		if !m.ready {
			continue
		}
		if err != nil {
			m.result = w.release(m.ctx, m.rec, w.backoff.Delay(m.receives), retry)
			continue
		}
		j, claimed := claims.Claimed[m.id]
		if claimed && !seen[m.id] {
			// A message twice in one batch runs once; its copy finds
			// the job running.
			seen[m.id] = true
			m.job = j
			run = append(run, m)
			continue
		}
		if claimed {
			m.result = w.unclaimed(m.ctx, m.rec, j)
			continue
		}
		other, found := claims.Others[m.id]
		if !found {
			// Its user is gone, or retention removed it long after it
			// finished: there is nothing left to do.
			w.o.Log.InfoContext(m.ctx, "job message without a job; dropped")
			m.result = done
			continue
		}
		m.result = w.unclaimed(m.ctx, m.rec, other)
	}

	w.runAll(ctx, run)

	var res events.SQSEventResponse
	var ok, failed int
	for i, m := range msgs {
		if m.result == done {
			ok++
			continue
		}
		failed++
		res.BatchItemFailures = append(res.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: ev.Records[i].MessageId})
	}
	w.o.Monitor.Emit(ctx,
		monitor.Metric{Name: "JobMessagesDone", Unit: monitor.Count, Value: float64(ok)},
		monitor.Metric{Name: "JobMessagesFailed", Unit: monitor.Count, Value: float64(failed)})
	return res, nil
}

// read decodes one message. What cannot be run is decided here; the rest
// is ready to claim.
func (w *Worker) read(ctx context.Context, rec *events.SQSMessage) *message {
	m := &message{rec: rec, receives: receiveCount(rec)}
	kind := attribute(rec, queue.AttrKind)
	rawID := attribute(rec, queue.AttrJobID)
	m.ctx = logging.WithAttrs(ctx, slog.String("message_id", rec.MessageId), slog.String("kind", kind), slog.Int("receive_count", m.receives))
	if kind == "" {
		kind = w.fn.Name // a schedule's message
	}
	if rawID == "" {
		m.id = queue.AdoptedID(rec.MessageId)
	} else {
		var err error
		if m.id, err = uuid.Parse(rawID); err != nil {
			w.o.Log.ErrorContext(m.ctx, "job message unreadable: bad job id; moving it to the dead-letter queue", "job_id", rawID)
			m.result = w.release(m.ctx, rec, 0, settled)
			return m
		}
	}
	m.ctx = logging.WithAttrs(m.ctx, slog.String(logging.JobIDKey, m.id.String()))

	if kind != w.fn.Name {
		detail := fmt.Sprintf("job kind %q sent to the queue of %s", kind, w.fn.Name)
		if !queue.Known(kind) {
			detail = fmt.Sprintf("unknown job kind %q", kind)
		}
		m.result = w.bury(m.ctx, rec, m.id, kind, "This job could not be run", detail)
		return m
	}
	p, err := w.decode([]byte(rec.Body))
	if err != nil {
		m.result = w.bury(m.ctx, rec, m.id, kind, "The job's data could not be read", "payload: "+err.Error())
		return m
	}
	if rawID == "" {
		err := db.Retry(ctx, recordWithin, db.IsUnavailable, func() error { return queue.Adopt(ctx, w.db, m.id, p) })
		if err != nil {
			w.o.Log.WarnContext(m.ctx, "job not adopted; will retry", "err", err)
			m.result = w.release(m.ctx, rec, w.backoff.Delay(m.receives), retry)
			return m
		}
	}
	m.payload, m.ready = p, true
	return m
}

// runAll runs the claimed jobs, Concurrency at a time, records the
// failures one by one and the successes together.
func (w *Worker) runAll(ctx context.Context, run []*message) {
	if w.runMany != nil {
		w.runTogether(ctx, run)
		return
	}
	sem := make(chan struct{}, w.o.Concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var succeeded []*message
	for _, m := range run {
		if ctx.Err() != nil {
			// Out of time before it started: it comes back when its
			// claim has lapsed.
			m.result = w.release(m.ctx, m.rec, w.lease, retry)
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			jctx := logging.WithAttrs(m.ctx, slog.Int("attempt", m.job.Attempts))
			jctx, tally := monitor.WithTally(jctx) // the job's statements
			start := time.Now()
			err := w.runJob(jctx, m.job, m.payload)
			w.o.Monitor.Emit(jctx, append([]monitor.Metric{
				{Name: "JobDuration", Unit: monitor.Milliseconds, Value: float64(time.Since(start)) / float64(time.Millisecond)},
			}, tally.Metrics("Database")...)...)
			if err != nil {
				m.result = w.failed(jctx, m.rec, m.job, err)
				return
			}
			mu.Lock()
			succeeded = append(succeeded, m)
			mu.Unlock()
		})
	}
	wg.Wait()
	w.succeeded(ctx, succeeded)
}

// runTogether runs the claimed jobs in one call of the batched handler,
// records the failures one by one and the successes together.
func (w *Worker) runTogether(ctx context.Context, run []*message) {
	if len(run) == 0 {
		return
	}
	if ctx.Err() != nil {
		// Out of time before they started: they come back when their
		// claims have lapsed.
		for _, m := range run {
			m.result = w.release(m.ctx, m.rec, w.lease, retry)
		}
		return
	}
	jobs := make([]queue.Job, len(run))
	ps := make([]queue.Payload, len(run))
	for i, m := range run {
		jobs[i], ps[i] = m.job, m.payload
	}
	// The batch's statements, and its time shared among its jobs.
	jctx, tally := monitor.WithTally(ctx)
	start := time.Now()
	results := w.runJobs(jctx, jobs, ps)
	w.o.Monitor.Emit(jctx, append([]monitor.Metric{
		{Name: "JobDuration", Unit: monitor.Milliseconds, Value: float64(time.Since(start)) / float64(time.Millisecond) / float64(len(run))},
	}, tally.Metrics("Database")...)...)
	var succeeded []*message
	for i, m := range run {
		if results[i] != nil {
			m.result = w.failed(logging.WithAttrs(m.ctx, slog.Int("attempt", m.job.Attempts)), m.rec, m.job, results[i])
			continue
		}
		succeeded = append(succeeded, m)
	}
	w.succeeded(ctx, succeeded)
}

// runJobs runs the batched handler as runJob runs a handler: within the
// invocation's deadline and the job type's timeout. A panic, or a handler
// that does not answer for every job, fails every job.
func (w *Worker) runJobs(ctx context.Context, jobs []queue.Job, ps []queue.Payload) (out []error) {
	deadline := time.Now().Add(w.lease - time.Minute)
	if d, ok := ctx.Deadline(); ok {
		margin := min(2*time.Second, time.Until(d)/10)
		deadline = d.Add(-margin)
	}
	hctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	all := func(err error) []error {
		out := make([]error, len(jobs))
		for i := range out {
			out[i] = err
		}
		return out
	}
	defer func() {
		if r := recover(); r != nil {
			out = all(fmt.Errorf("job handler panicked: %v\n%s", r, debug.Stack()))
		}
	}()
	out = w.runMany(hctx, jobs, ps)
	if len(out) != len(jobs) {
		return all(fmt.Errorf("job handler answered for %d of %d jobs", len(out), len(jobs)))
	}
	return out
}

// unclaimed decides about a delivery of a job that was not claimable.
func (w *Worker) unclaimed(ctx context.Context, rec *events.SQSMessage, job queue.Job) result {
	now := time.Now()
	switch {
	case job.Kind != w.fn.Name:
		// The id is another type's job: leave that job alone and this
		// message to the dead-letter queue.
		w.o.Log.ErrorContext(ctx, "job message names a job of another type; moving it to the dead-letter queue", "job_kind", job.Kind)
		return w.release(ctx, rec, 0, settled)
	case job.State == queue.Succeeded:
		w.o.Log.DebugContext(ctx, "job already done; duplicate message dropped")
		return done
	case job.State == queue.Dead:
		// Its message belongs in the dead-letter queue: release it so
		// the redrive policy moves it there.
		return w.release(ctx, rec, 0, settled)
	case job.State == queue.Running:
		// Another delivery runs it: look again when its claim lapses.
		wait := time.Second
		if job.LockedUntil != nil {
			wait += job.LockedUntil.Sub(now)
		}
		return w.release(ctx, rec, wait, retry)
	default: // pending, not due yet
		return w.release(ctx, rec, max(job.RunAt.Sub(now), time.Second), retry)
	}
}

// runJob runs the handler within the invocation's deadline, less a margin
// to record the outcome, and within the job type's timeout.
func (w *Worker) runJob(ctx context.Context, job queue.Job, p queue.Payload) (err error) {
	deadline := time.Now().Add(w.lease - time.Minute)
	if d, ok := ctx.Deadline(); ok {
		margin := min(2*time.Second, time.Until(d)/10)
		deadline = d.Add(-margin)
	}
	hctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("job handler panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return w.run(hctx, job, p)
}

// succeeded records the jobs that succeeded.
func (w *Worker) succeeded(ctx context.Context, ms []*message) {
	if len(ms) == 0 {
		return
	}
	jobs := make([]queue.Job, len(ms))
	for i, m := range ms {
		jobs[i] = m.job
	}
	rctx, cancel := recordContext(ctx)
	defer cancel()
	var recorded map[uuid.UUID]bool
	err := db.Retry(rctx, recordWithin, db.IsUnavailable, func() (err error) {
		recorded, err = queue.SucceedAll(rctx, w.db, jobs)
		return err
	})
	for _, m := range ms {
		switch {
		case err != nil:
			// The work is done; a redelivery finds the job claimable
			// again once its claim lapses and runs it once more, which
			// handlers are written to survive.
			w.o.Log.ErrorContext(m.ctx, "job done but not recorded; it may run again", "err", err)
			m.result = retry
		case !recorded[m.job.ID]:
			w.o.Log.WarnContext(m.ctx, "job done after its claim lapsed")
			m.result = done
		default:
			w.o.Log.DebugContext(m.ctx, "job done")
			m.result = done
		}
	}
}

// failed records a failed attempt and releases the message for a retry,
// or for the dead-letter queue.
func (w *Worker) failed(ctx context.Context, rec *events.SQSMessage, job queue.Job, err error) result {
	f := queue.Failure{Detail: err.Error()}
	switch {
	case queue.IsPermanent(err) || permanentKind(errs.KindOf(err)):
		f.Dead = true
	case job.Attempts >= job.MaxAttempts:
		f.Dead = true
	default:
		f.RetryIn = w.backoff.Delay(job.Attempts)
		if e, ok := errs.As(err); ok && e.Kind == errs.KindRateLimited && e.RetryAfter > f.RetryIn {
			f.RetryIn = e.RetryAfter
		}
	}
	f.Message = safeMessage(err, f.Dead)

	rctx, cancel := recordContext(ctx)
	defer cancel()
	rerr := db.Retry(rctx, recordWithin, db.IsUnavailable, func() error {
		_, err := queue.Fail(rctx, w.db, job, f)
		return err
	})
	if rerr != nil {
		w.o.Log.ErrorContext(ctx, "job outcome not recorded", "err", rerr)
	}
	if f.Dead {
		w.o.Log.ErrorContext(ctx, "job dead", "attempts", job.Attempts, "max_attempts", job.MaxAttempts, "err", err)
		w.o.Monitor.Count(ctx, "JobsDead", 1)
		return w.release(ctx, rec, 0, settled)
	}
	w.o.Log.WarnContext(ctx, "job failed; will retry", "attempts", job.Attempts, "max_attempts", job.MaxAttempts,
		"retry_in_s", f.RetryIn.Seconds(), "err", err)
	return w.release(ctx, rec, f.RetryIn, retry)
}

// bury records the job of kind of a message that cannot be run as dead
// and releases the message for the dead-letter queue.
func (w *Worker) bury(ctx context.Context, rec *events.SQSMessage, id uuid.UUID, kind, message, detail string) result {
	w.o.Log.ErrorContext(ctx, "job message cannot be run; moving it to the dead-letter queue", "reason", detail)
	w.o.Monitor.Count(ctx, "JobsDead", 1)
	rctx, cancel := recordContext(ctx)
	defer cancel()
	err := db.Retry(rctx, recordWithin, db.IsUnavailable, func() error {
		_, err := queue.Bury(rctx, w.db, id, kind, message, detail)
		return err
	})
	if err != nil {
		w.o.Log.ErrorContext(ctx, "job outcome not recorded", "err", err)
	}
	return w.release(ctx, rec, 0, settled)
}

// release makes a failed message visible again after d. When that fails
// the message comes back after the queue's visibility timeout instead.
func (w *Worker) release(ctx context.Context, rec *events.SQSMessage, d time.Duration, r result) result {
	if w.backend == nil {
		return r
	}
	d = min(max(d, 0), queue.MaxVisibility).Round(time.Second)
	rctx, cancel := recordContext(ctx)
	defer cancel()
	if err := w.backend.ChangeVisibility(rctx, w.fn.Name, rec.ReceiptHandle, d); err != nil {
		w.o.Log.WarnContext(ctx, "message visibility not changed", "err", err)
	}
	return r
}

// recordContext outlives the handler's deadline by a little, so that an
// outcome is recorded even for a handler that ran out of time.
func recordContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), recordWithin+time.Second)
}

// recordWithin is how long a claim or an outcome keeps being tried while
// the database is unavailable: about what a restart takes. The conditions
// of SucceedAll, Fail, Bury and Adopt make each of them safe to run twice.
// An outcome not recorded leaves the job running until its lease lapses,
// minutes later.
const recordWithin = 5 * time.Second

// permanentKind reports the error kinds that no retry can fix.
func permanentKind(k errs.Kind) bool {
	switch k {
	case errs.KindInvalid, errs.KindNotFound, errs.KindForbidden, errs.KindUnauthenticated:
		return true
	}
	return false
}

// safeMessage is what the job's user may read of err.
func safeMessage(err error, dead bool) string {
	if e, ok := errs.As(err); ok && e.Kind != errs.KindInternal && e.Message != "" {
		return e.Message
	}
	if dead {
		return "The job failed and will not be retried"
	}
	return "The job failed and will be retried"
}

func attribute(rec *events.SQSMessage, name string) string {
	if a, ok := rec.MessageAttributes[name]; ok && a.StringValue != nil {
		return *a.StringValue
	}
	return ""
}

func receiveCount(rec *events.SQSMessage) int {
	n, err := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// Lambda implements platform.Handler: the worker's Handle, which Lambda
// feeds the SQS event batches of the job type's queue.
func (w *Worker) Lambda(*platform.App) any { return w.Handle }
