package worker_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/worker"
	"github.com/personalcrm/core/shared/testkit"
)

// backend is a queue backend with its consumer side.
type backend interface {
	queue.Backend
	queue.Receiver
}

type fixture struct {
	pool  *db.Pool
	b     backend
	mem   *queue.Memory // nil on SQS
	clock *testkit.Clock
	q     *queue.Queue
	user  uuid.UUID
	wait  time.Duration // long poll of a receive
	fn    catalog.Function
	calls *calls
}

func newFixture(t *testing.T, sqs bool) *fixture {
	t.Helper()
	f := &fixture{pool: testkit.DB(t), fn: catalog.MustLookup(catalog.ContactExtraction), calls: &calls{n: map[uuid.UUID]int{}}}
	if sqs {
		_, b := testkit.SQS(t).JobQueues(t)
		f.b, f.wait = b, 2*time.Second
	} else {
		f.clock = testkit.NewClock(time.Now())
		f.mem = queue.NewMemory(queue.MemoryOptions{Now: f.clock.Now})
		f.b = f.mem
	}
	f.q = queue.New(f.pool, f.b, nil)
	f.user, _ = testkit.User(t, f.pool, "worker-"+uuid.NewString()[:8]+"@example.com")
	return f
}

// calls counts the runs of a test handler per job: its effect.
type calls struct {
	mu sync.Mutex
	n  map[uuid.UUID]int
}

func (c *calls) add(id uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[id]++
}

func (c *calls) of(id uuid.UUID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[id]
}

func (c *calls) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.n {
		n += v
	}
	return n
}

// noBackoff retries at once, so tests need not wait.
var noBackoff = &queue.Backoff{}

// worker returns the contact-extraction worker running fail for each job
// (nil: succeed) and counting its runs.
func (f *fixture) worker(fail func(queue.Job) error) *worker.Worker {
	h := func(ctx context.Context, j queue.Job, p contact.ExtractionJob) error {
		f.calls.add(j.ID)
		if fail != nil {
			return fail(j)
		}
		return nil
	}
	return worker.New(f.fn, f.pool, f.b, h, worker.Options{Backoff: noBackoff})
}

// enqueue writes and sends n contact-extraction jobs.
func (f *fixture) enqueue(t *testing.T, n int, opts ...queue.Option) []queue.Job {
	t.Helper()
	var jobs []queue.Job
	err := f.q.InTx(context.Background(), func(tx *queue.Tx) error {
		for range n {
			j, err := tx.Enqueue(context.Background(), contact.ExtractionJob{UserID: f.user, EmailID: uuid.New()}, opts...)
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func (f *fixture) job(t *testing.T, id uuid.UUID) queue.Job {
	t.Helper()
	j, err := queue.Get(context.Background(), f.pool, f.user, id)
	if err != nil {
		t.Fatalf("job %s: %v", id, err)
	}
	return j
}

// receive takes one batch off the queue.
func (f *fixture) receive(t *testing.T) []queue.Delivery {
	t.Helper()
	ds, err := f.b.Receive(context.Background(), f.fn.Name, f.fn.BatchSize, f.wait)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func (f *fixture) pollOnce(t *testing.T, w *worker.Worker) int {
	t.Helper()
	n, err := worker.PollOnce(context.Background(), f.b, f.fn, w.Handle, f.wait)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func failures(res events.SQSEventResponse) map[string]bool {
	out := map[string]bool{}
	for _, f := range res.BatchItemFailures {
		out[f.ItemIdentifier] = true
	}
	return out
}

func TestEveryMessageTwice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	w := f.worker(nil)
	jobs := f.enqueue(t, 10)
	ds := f.receive(t)
	if len(ds) != 10 {
		t.Fatalf("received %d messages, want 10", len(ds))
	}
	ev := worker.Event(f.fn.Name, ds)

	res, err := w.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("first delivery: %v", err)
	}
	if len(res.BatchItemFailures) != 0 {
		t.Fatalf("first delivery: %d failures reported, want 0: %+v", len(res.BatchItemFailures), res.BatchItemFailures)
	}
	// The same batch again, as SQS may deliver it: nothing runs twice.
	res, err = w.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("second delivery: %v", err)
	}
	if len(res.BatchItemFailures) != 0 {
		t.Fatalf("second delivery: %d failures reported, want 0: %+v", len(res.BatchItemFailures), res.BatchItemFailures)
	}
	// Each message twice within one batch, handled concurrently.
	doubled := events.SQSEvent{Records: append(append([]events.SQSMessage(nil), ev.Records...), ev.Records...)}
	if _, err := w.Handle(context.Background(), doubled); err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if n := f.calls.of(j.ID); n != 1 {
			t.Errorf("job %s ran %d times, want once", j.ID, n)
		}
		got := f.job(t, j.ID)
		if got.State != queue.Succeeded {
			t.Errorf("job %s: state %s, want %s", j.ID, got.State, queue.Succeeded)
		}
		if got.Attempts != 1 {
			t.Errorf("job %s: %d attempts, want 1", j.ID, got.Attempts)
		}
		if got.FinishedAt == nil {
			t.Errorf("job %s: no finish time", j.ID)
		}
	}
}

func TestDuplicatesInOneBatchRunOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	w := f.worker(nil)
	jobs := f.enqueue(t, 5)
	ev := worker.Event(f.fn.Name, f.receive(t))
	doubled := events.SQSEvent{}
	for _, r := range ev.Records {
		doubled.Records = append(doubled.Records, r, r)
	}
	if _, err := w.Handle(context.Background(), doubled); err != nil {
		t.Fatal(err)
	}
	if n := f.calls.total(); n != len(jobs) {
		t.Fatalf("handler ran %d times for %d jobs delivered twice", n, len(jobs))
	}
}

func TestPoisonedMessage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	w := f.worker(nil)
	good := f.enqueue(t, 9)
	// The tenth job's message carries data its type cannot read.
	var poisoned queue.Job
	err := db.InTx(context.Background(), f.pool, func(tx db.Tx) error {
		var err error
		poisoned, err = queue.Enqueue(context.Background(), tx, contact.ExtractionJob{UserID: f.user, EmailID: uuid.New()})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.b.Send(context.Background(), f.fn.Name, []queue.Message{{JobID: poisoned.ID, Kind: f.fn.Name, Body: []byte(`{"userId": 42`)}}); err != nil {
		t.Fatal(err)
	}
	ds := f.receive(t)
	if len(ds) != 10 {
		t.Fatalf("batch of %d, want 10", len(ds))
	}
	res, err := w.Handle(context.Background(), worker.Event(f.fn.Name, ds))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.BatchItemFailures) != 1 {
		t.Fatalf("%d batch item failures, want exactly 1: %+v", len(res.BatchItemFailures), res)
	}
	var poisonedMsg string
	for _, d := range ds {
		if d.JobID == poisoned.ID.String() {
			poisonedMsg = d.MessageID
		}
	}
	if !failures(res)[poisonedMsg] {
		t.Errorf("the failure reported is not the poisoned message")
	}
	for _, j := range good {
		if got := f.job(t, j.ID); got.State != queue.Succeeded {
			t.Errorf("good job %s: %s", j.ID, got.State)
		}
	}
	got := f.job(t, poisoned.ID)
	if got.State != queue.Dead || got.LastError == nil || *got.LastError != "The job's data could not be read" {
		t.Errorf("poisoned job: state %s, last error %v", got.State, got.LastError)
	}
	if f.calls.of(poisoned.ID) != 0 || f.calls.total() != 9 {
		t.Errorf("handler ran %d times, %d for the poisoned job", f.calls.total(), f.calls.of(poisoned.ID))
	}
}

// TestFailingJobEndsDead runs a job that fails every time until it is
// dead after its max attempts and its message is in the dead-letter
// queue, on the in-memory queue and on SQS (the emulator).
func TestFailingJobEndsDead(t *testing.T) {
	t.Parallel()
	for name, sqs := range map[string]bool{"memory": false, "sqs": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, sqs)
			w := f.worker(func(queue.Job) error { return errors.New("upstream said no") })
			j := f.enqueue(t, 1)[0]
			max := f.fn.MaxAttempts
			for i := 0; i < 2*max; i++ {
				if f.pollOnce(t, w) == 0 && f.job(t, j.ID).State == queue.Dead {
					break
				}
			}
			got := f.job(t, j.ID)
			if got.State != queue.Dead || got.Attempts != max || got.FinishedAt == nil {
				t.Fatalf("job: state %s after %d attempts (max %d)", got.State, got.Attempts, max)
			}
			if got.LastError == nil || *got.LastError != "The job failed and will not be retried" {
				t.Errorf("last error for the user: %v", got.LastError)
			}
			if got.Error == nil || !strings.Contains(*got.Error, "upstream said no") {
				t.Errorf("error for operators: %v", got.Error)
			}
			if n := f.calls.of(j.ID); n != max {
				t.Errorf("handler ran %d times, want %d", n, max)
			}
			d, err := f.b.Depth(context.Background(), f.fn.Name)
			if err != nil {
				t.Fatal(err)
			}
			if d.DeadLetters != 1 || d.Queued+d.InFlight+d.Delayed != 0 {
				t.Errorf("queue depth %+v, want the message in the dead-letter queue only", d)
			}
		})
	}
}

func TestPermanentErrorIsDeadAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	w := f.worker(func(queue.Job) error { return queue.Permanent(errors.New("account needs consent again")) })
	j := f.enqueue(t, 1)[0]
	f.pollOnce(t, w)
	got := f.job(t, j.ID)
	if got.State != queue.Dead || got.Attempts != 1 {
		t.Fatalf("after one permanent failure: state %s, attempts %d", got.State, got.Attempts)
	}
	// The message is released at once and moves to the dead-letter queue
	// without running the job again.
	for range f.fn.MaxAttempts + 1 {
		f.pollOnce(t, w)
	}
	if n := f.calls.of(j.ID); n != 1 {
		t.Errorf("handler ran %d times", n)
	}
	if dead := f.mem.DeadLetters(f.fn.Name); len(dead) != 1 || dead[0].JobID != j.ID.String() {
		t.Errorf("dead letters: %+v", dead)
	}
	if got := f.job(t, j.ID); got.Attempts != 1 || got.State != queue.Dead {
		t.Errorf("job after the bounces: %s, %d attempts", got.State, got.Attempts)
	}
}

func TestRetryAfterBackoff(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	h := func(ctx context.Context, j queue.Job, p contact.ExtractionJob) error {
		f.calls.add(j.ID)
		if j.Attempts == 1 {
			return errors.New("try again")
		}
		return nil
	}
	w := worker.New(f.fn, f.pool, f.b, h, worker.Options{Backoff: &queue.Backoff{Base: 10 * time.Second, Max: time.Minute}})
	j := f.enqueue(t, 1)[0]
	f.pollOnce(t, w)
	got := f.job(t, j.ID)
	if got.State != queue.Failed || got.LastError == nil || *got.LastError != "The job failed and will be retried" {
		t.Fatalf("after a failure: %s, %v", got.State, got.LastError)
	}
	if !got.RunAt.After(time.Now().Add(4 * time.Second)) {
		t.Errorf("next attempt due %v, want after the backoff", got.RunAt)
	}
	if n := f.pollOnce(t, w); n != 0 {
		t.Fatalf("message back before its backoff passed")
	}
	f.clock.Add(10 * time.Second)
	if n := f.pollOnce(t, w); n != 1 {
		t.Fatalf("message not back after its backoff")
	}
	got = f.job(t, j.ID)
	if got.State != queue.Succeeded {
		t.Fatalf("after the retry: state %s, want %s", got.State, queue.Succeeded)
	}
	if got.Attempts != 2 {
		t.Fatalf("after the retry: %d attempts, want 2", got.Attempts)
	}
	if got.LastError != nil {
		t.Fatalf("after the retry: last error %q, want none", *got.LastError)
	}
}

func TestPanicIsAFailure(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	w := f.worker(func(queue.Job) error { panic("nil map") })
	j := f.enqueue(t, 1)[0]
	f.pollOnce(t, w)
	got := f.job(t, j.ID)
	if got.State != queue.Failed || got.Error == nil || !strings.Contains(*got.Error, "panicked: nil map") {
		t.Fatalf("after a panic: %s, %v", got.State, got.Error)
	}
}

func TestClaims(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	w := f.worker(nil)
	ctx := context.Background()

	t.Run("a running job is left to its runner", func(t *testing.T) {
		j := f.enqueue(t, 1)[0]
		_, ok, err := queue.Claim(ctx, f.pool, j.ID, f.fn.Name, 1, time.Hour)
		if err != nil {
			t.Fatalf("claim: %v", err)
		}
		if !ok {
			t.Fatalf("claim: not claimed")
		}
		res, err := w.Handle(ctx, worker.Event(f.fn.Name, f.receive(t)))
		if err != nil {
			t.Fatalf("duplicate of a running job: %v", err)
		}
		if len(res.BatchItemFailures) != 1 {
			t.Fatalf("duplicate of a running job: %d failures reported, want 1: %+v", len(res.BatchItemFailures), res.BatchItemFailures)
		}
		if n := f.calls.of(j.ID); n != 0 {
			t.Fatalf("duplicate of a running job ran %d times, want 0", n)
		}
		// It comes back when the claim lapses, not before.
		f.clock.Add(59 * time.Minute)
		if n := f.pollOnce(t, w); n != 0 {
			t.Fatalf("message back while the job runs")
		}
	})

	t.Run("a lapsed claim is taken over", func(t *testing.T) {
		j := f.enqueue(t, 1)[0]
		_, ok, err := queue.Claim(ctx, f.pool, j.ID, f.fn.Name, 1, time.Hour)
		if err != nil {
			t.Fatalf("claim: %v", err)
		}
		if !ok {
			t.Fatalf("claim: not claimed")
		}
		// The runner crashed: its claim lapsed.
		if _, err := f.pool.Exec(ctx, `update jobs set locked_until = now() - interval '1 second' where id = $1`, j.ID); err != nil {
			t.Fatal(err)
		}
		ds := f.receive(t)
		var ev events.SQSEvent
		for _, r := range worker.Event(f.fn.Name, ds).Records {
			if r.MessageAttributes[queue.AttrJobID].StringValue != nil && *r.MessageAttributes[queue.AttrJobID].StringValue == j.ID.String() {
				ev.Records = append(ev.Records, r)
			}
		}
		res, err := w.Handle(ctx, ev)
		if err != nil {
			t.Fatalf("take over: %v", err)
		}
		if len(res.BatchItemFailures) != 0 {
			t.Fatalf("take over: %d failures reported, want 0: %+v", len(res.BatchItemFailures), res.BatchItemFailures)
		}
		if got := f.job(t, j.ID); got.State != queue.Succeeded || got.Attempts != 2 || f.calls.of(j.ID) != 1 {
			t.Fatalf("after take over: %s, %d attempts, ran %d", got.State, got.Attempts, f.calls.of(j.ID))
		}
	})

	t.Run("a job of another type is left alone", func(t *testing.T) {
		var other queue.Job
		err := db.InTx(ctx, f.pool, func(tx db.Tx) error {
			var err error
			other, err = queue.Enqueue(ctx, tx, contact.EnrichmentJob{UserID: f.user, ContactID: uuid.New()})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		rec := record(other.ID.String(), f.fn.Name, `{"userId":"`+f.user.String()+`","emailId":"`+uuid.NewString()+`"}`)
		res, err := w.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{rec}})
		if err != nil {
			t.Fatalf("message naming another type's job: %v", err)
		}
		if len(res.BatchItemFailures) != 1 {
			t.Fatalf("message naming another type's job: %d failures reported, want 1: %+v", len(res.BatchItemFailures), res.BatchItemFailures)
		}
		if got := f.job(t, other.ID); got.State != queue.Pending || got.Attempts != 0 {
			t.Fatalf("the other job changed: %s, %d attempts", got.State, got.Attempts)
		}
	})

	t.Run("a job whose row is gone is dropped", func(t *testing.T) {
		rec := record(uuid.NewString(), f.fn.Name, `{"userId":"`+uuid.NewString()+`","emailId":"`+uuid.NewString()+`"}`)
		res, err := w.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{rec}})
		if err != nil {
			t.Fatalf("message of a missing job: %v", err)
		}
		if len(res.BatchItemFailures) != 0 {
			t.Fatalf("message of a missing job: %d failures reported, want 0: %+v", len(res.BatchItemFailures), res.BatchItemFailures)
		}
	})
}

// record is an SQS record with the given job id and kind attributes
// ("" leaves one out).
func record(jobID, kind, body string) events.SQSMessage {
	rec := events.SQSMessage{
		MessageId: uuid.NewString(), ReceiptHandle: "r-" + uuid.NewString(), Body: body,
		Attributes:        map[string]string{"ApproximateReceiveCount": "1"},
		MessageAttributes: map[string]events.SQSMessageAttribute{},
	}
	if jobID != "" {
		rec.MessageAttributes[queue.AttrJobID] = events.SQSMessageAttribute{DataType: "String", StringValue: &jobID}
	}
	if kind != "" {
		rec.MessageAttributes[queue.AttrKind] = events.SQSMessageAttribute{DataType: "String", StringValue: &kind}
	}
	return rec
}

func TestMalformedMessages(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	w := f.worker(nil)
	ctx := context.Background()
	const unreadable = "The job's data could not be read"
	// row writes the job a message names, of kind.
	row := func(t *testing.T, kind string) uuid.UUID {
		if kind == f.fn.Name {
			return f.enqueue(t, 1)[0].ID
		}
		id := uuid.Must(uuid.NewV7())
		if _, err := f.pool.Exec(ctx, `insert into jobs (id, kind, user_id, payload, max_attempts, state)
			values ($1, $2, $3, '{}', 3, 'sent')`, id, kind, f.user); err != nil {
			t.Fatal(err)
		}
		return id
	}
	tests := []struct {
		name, body string
		// kind is the message's; the job's row is of rowKind.
		kind, rowKind string
		badID         bool
		// lastError is the row's after; "" when the row is left alone.
		lastError string
	}{
		{name: "not JSON", body: "hello", lastError: unreadable},
		{name: "truncated JSON", body: `{"userId":`, lastError: unreadable},
		{name: "array", body: `[1,2]`, lastError: unreadable},
		{name: "wrong types", body: `{"userId": 1, "emailId": true}`, lastError: unreadable},
		{name: "missing fields", body: `{}`, lastError: unreadable},
		{name: "bad uuid", body: `{"userId":"x","emailId":"y"}`, lastError: unreadable},
		{name: "empty", body: ``, lastError: unreadable},
		{name: "unknown job kind", body: `{}`, kind: "mystery", rowKind: "mystery", lastError: "This job could not be run"},
		{name: "another type's job on this queue", body: `{}`, kind: catalog.EmailSync, rowKind: catalog.EmailSync, lastError: "This job could not be run"},
		{name: "a kind that is not its job's", body: `{}`, kind: catalog.EmailSync},
		{name: "bad job id", body: `{}`, badID: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.kind == "" {
				tt.kind = f.fn.Name
			}
			if tt.rowKind == "" {
				tt.rowKind = f.fn.Name
			}
			jobID := row(t, tt.rowKind)
			id := jobID.String()
			if tt.badID {
				id = "job-17"
			}
			res, err := w.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{record(id, tt.kind, tt.body)}})
			if err != nil {
				t.Fatalf("result: %v", err)
			}
			if len(res.BatchItemFailures) != 1 {
				t.Fatalf("result: %d failures reported, want 1: %+v", len(res.BatchItemFailures), res.BatchItemFailures)
			}
			if f.calls.of(jobID) != 0 {
				t.Fatalf("handler ran")
			}
			got, err := queue.Get(ctx, f.pool, f.user, jobID)
			if err != nil {
				t.Fatal(err)
			}
			if tt.lastError == "" {
				if got.State != queue.Sent {
					t.Errorf("the job changed: %s", got.State)
				}
				return
			}
			if got.State != queue.Dead || got.LastError == nil || *got.LastError != tt.lastError || got.Error == nil {
				t.Errorf("job: state %s, last error %v, error %v", got.State, got.LastError, got.Error)
			}
		})
	}
}

// TestScheduledMessage: a message a schedule sends straight to a queue
// has no job row; the worker writes one, with an id derived from the
// message, so that its duplicates find it.
func TestScheduledMessage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	w := f.worker(nil)
	body := `{"userId":"` + f.user.String() + `","emailId":"` + uuid.NewString() + `"}`
	if err := f.mem.SendRaw(f.fn.Name, body); err != nil {
		t.Fatal(err)
	}
	ev := worker.Event(f.fn.Name, f.receive(t))
	for range 2 {
		res, err := w.Handle(context.Background(), ev)
		if err != nil {
			t.Fatalf("scheduled message: %v", err)
		}
		if len(res.BatchItemFailures) != 0 {
			t.Fatalf("scheduled message: %d failures reported, want 0: %+v", len(res.BatchItemFailures), res.BatchItemFailures)
		}
	}
	id := queue.AdoptedID(ev.Records[0].MessageId)
	if got := f.job(t, id); got.State != queue.Succeeded || f.calls.of(id) != 1 || got.Attempts != 1 {
		t.Fatalf("adopted job: %s, %d attempts, ran %d", got.State, got.Attempts, f.calls.of(id))
	}
}

func TestLambdaDeadline(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	h := func(ctx context.Context, j queue.Job, p contact.ExtractionJob) error {
		<-ctx.Done() // a handler that takes too long
		return ctx.Err()
	}
	w := worker.New(f.fn, f.pool, f.b, h, worker.Options{Backoff: noBackoff})
	j := f.enqueue(t, 1)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err := w.Handle(ctx, worker.Event(f.fn.Name, f.receive(t)))
	if err != nil {
		t.Fatalf("result: %v", err)
	}
	if len(res.BatchItemFailures) != 1 {
		t.Fatalf("result: %d failures reported, want 1: %+v", len(res.BatchItemFailures), res.BatchItemFailures)
	}
	// The outcome is recorded although the invocation's time ran out.
	if got := f.job(t, j.ID); got.State != queue.Failed {
		t.Fatalf("job after its deadline: %s", got.State)
	}
}
