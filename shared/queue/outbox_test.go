package queue_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/domain/insight"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/testkit"
)

type fixture struct {
	pool  *db.Pool
	mem   *queue.Memory
	clock *testkit.Clock
	q     *queue.Queue
	user  uuid.UUID
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	pool := testkit.DB(t)
	c := testkit.NewClock(time.Now())
	mem := queue.NewMemory(queue.MemoryOptions{Now: c.Now})
	user, _ := testkit.User(t, pool, "outbox@example.com")
	return fixture{pool: pool, mem: mem, clock: c, q: queue.New(pool, mem, nil), user: user}
}

func (f fixture) job(t *testing.T, id uuid.UUID) queue.Job {
	t.Helper()
	j, err := queue.Get(context.Background(), f.pool, f.user, id)
	if err != nil {
		t.Fatalf("job %s: %v", id, err)
	}
	return j
}

func (f fixture) count(t *testing.T) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), `select count(*) from jobs`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (f fixture) depth(t *testing.T, kind string) queue.Depth {
	t.Helper()
	d, err := f.mem.Depth(context.Background(), kind)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func extraction(user uuid.UUID) contact.ExtractionJob {
	return contact.ExtractionJob{UserID: user, EmailID: uuid.New()}
}

func TestInTxSendsAfterCommit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var j queue.Job
	err := f.q.InTx(context.Background(), func(tx *queue.Tx) error {
		var err error
		j, err = tx.Enqueue(context.Background(), extraction(f.user))
		if err != nil {
			return err
		}
		// Not on the queue before the transaction commits.
		if d := f.depth(t, catalog.ContactExtraction); d.Queued != 0 {
			t.Errorf("message sent before commit: %+v", d)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := f.job(t, j.ID)
	if got.State != queue.Sent {
		t.Fatalf("job after commit: state %s, want %s", got.State, queue.Sent)
	}
	if got.SentAt == nil {
		t.Fatalf("job after commit: no sent time")
	}
	if want := catalog.MustLookup(catalog.ContactExtraction).MaxAttempts; got.MaxAttempts != want {
		t.Fatalf("job after commit: max attempts %d, want %d", got.MaxAttempts, want)
	}
	ds, err := f.mem.Receive(context.Background(), catalog.ContactExtraction, 10, 0)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if len(ds) != 1 {
		t.Fatalf("queue holds %d messages, want 1: %+v", len(ds), ds)
	}
	if ds[0].JobID != j.ID.String() {
		t.Fatalf("message of job %s, want %s", ds[0].JobID, j.ID)
	}
	if ds[0].Kind != catalog.ContactExtraction {
		t.Fatalf("message of kind %s, want %s", ds[0].Kind, catalog.ContactExtraction)
	}
	p, err := queue.Decode[contact.ExtractionJob]([]byte(ds[0].Body))
	if err != nil {
		t.Fatalf("message body %s: %v", ds[0].Body, err)
	}
	if p.UserID != f.user {
		t.Fatalf("message body %s: user %v, want %v", ds[0].Body, p.UserID, f.user)
	}
}

func TestRolledBackSendsNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	boom := errors.New("boom")
	err := f.q.InTx(context.Background(), func(tx *queue.Tx) error {
		if _, err := tx.Enqueue(context.Background(), extraction(f.user)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx returned %v", err)
	}
	if n := f.count(t); n != 0 {
		t.Errorf("%d jobs after rollback", n)
	}
	if d := f.depth(t, catalog.ContactExtraction); d != (queue.Depth{}) {
		t.Errorf("queue after rollback: %+v", d)
	}
	res, err := f.q.Relay(context.Background(), queue.RelayOptions{Grace: -1})
	if err != nil {
		t.Errorf("relay after rollback: %v", err)
	}
	if res.Sent != 0 {
		t.Errorf("relay after rollback sent %d, want 0", res.Sent)
	}
}

// TestRelaySendsWhatACrashLeft: the producer committed and crashed before
// sending; the relay sends the job.
func TestRelaySendsWhatACrashLeft(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var j queue.Job
	err := db.InTx(context.Background(), f.pool, func(tx db.Tx) error {
		var err error
		j, err = queue.Enqueue(context.Background(), tx, extraction(f.user))
		return err
	}) // ...and no Send: the process died here.
	if err != nil {
		t.Fatal(err)
	}
	if got := f.job(t, j.ID); got.State != queue.Pending {
		t.Fatalf("job before the relay: %s", got.State)
	}
	// A job younger than the grace is left to its producer.
	res, err := f.q.Relay(context.Background(), queue.RelayOptions{})
	if err != nil {
		t.Fatalf("relay within the grace: %v", err)
	}
	if res.Sent != 0 {
		t.Fatalf("relay within the grace sent %d, want 0", res.Sent)
	}
	res, err = f.q.Relay(context.Background(), queue.RelayOptions{Grace: -1})
	if err != nil {
		t.Fatalf("relay: %v", err)
	}
	if res.Sent != 1 {
		t.Fatalf("relay sent %d, want 1", res.Sent)
	}
	if got := f.job(t, j.ID); got.State != queue.Sent {
		t.Fatalf("job after the relay: %s", got.State)
	}
	ds, err := f.mem.Receive(context.Background(), catalog.ContactExtraction, 10, 0)
	if err != nil {
		t.Fatalf("receive after the relay: %v", err)
	}
	if len(ds) != 1 {
		t.Fatalf("queue after the relay holds %d messages, want 1: %+v", len(ds), ds)
	}
	if ds[0].JobID != j.ID.String() {
		t.Fatalf("queue after the relay holds job %s, want %s", ds[0].JobID, j.ID)
	}
	// Nothing left to send.
	res, err = f.q.Relay(context.Background(), queue.RelayOptions{Grace: -1})
	if err != nil {
		t.Fatalf("second relay: %v", err)
	}
	if res.Sent != 0 {
		t.Fatalf("second relay sent %d, want 0", res.Sent)
	}
}

func TestRelayPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	err := db.InTx(context.Background(), f.pool, func(tx db.Tx) error {
		for range 25 {
			if _, err := queue.Enqueue(context.Background(), tx, extraction(f.user)); err != nil {
				return err
			}
		}
		_, err := queue.Enqueue(context.Background(), tx, contact.EnrichmentJob{UserID: f.user, ContactID: uuid.New()})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.q.Relay(context.Background(), queue.RelayOptions{Grace: -1, Page: 10})
	if err != nil {
		t.Fatalf("relay: %v", err)
	}
	if res.Sent != 26 {
		t.Fatalf("relay sent %d of 26", res.Sent)
	}
	if d := f.depth(t, catalog.ContactExtraction); d.Queued != 25 {
		t.Errorf("contact-extraction queue: %+v", d)
	}
	if d := f.depth(t, catalog.Enrichment); d.Queued != 1 {
		t.Errorf("enrichment queue: %+v", d)
	}
}

// failingBackend refuses every send.
type failingBackend struct{ *queue.Memory }

func (failingBackend) Send(context.Context, string, []queue.Message) ([]uuid.UUID, error) {
	return nil, errs.Unavailable("queue", errors.New("connection refused"))
}

func TestFailedSendLeavesTheJobToTheRelay(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	down := queue.New(f.pool, failingBackend{f.mem}, nil)
	var j queue.Job
	// The producer's work succeeds although the queue is down.
	err := down.InTx(context.Background(), func(tx *queue.Tx) error {
		var err error
		j, err = tx.Enqueue(context.Background(), extraction(f.user))
		return err
	})
	if err != nil {
		t.Fatalf("InTx with the queue down: %v", err)
	}
	if got := f.job(t, j.ID); got.State != queue.Pending {
		t.Fatalf("job: %s", got.State)
	}
	if _, err := down.Relay(context.Background(), queue.RelayOptions{Grace: -1}); err == nil {
		t.Fatal("relay with the queue down reported no error")
	}
	res, err := f.q.Relay(context.Background(), queue.RelayOptions{Grace: -1})
	if err != nil {
		t.Fatalf("relay once the queue is back: %v", err)
	}
	if res.Sent != 1 {
		t.Fatalf("relay once the queue is back sent %d, want 1", res.Sent)
	}
}

func TestSingleton(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	account := uuid.New()
	sync := func(t *testing.T) queue.Job {
		t.Helper()
		var j queue.Job
		err := f.q.InTx(ctx, func(tx *queue.Tx) error {
			var err error
			j, err = tx.Enqueue(ctx, email.SyncJob{UserID: f.user, AccountID: account}, queue.Singleton("account:"+account.String()))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	first := sync(t)
	second := sync(t)
	if first.Existing || !second.Existing || second.ID != first.ID {
		t.Fatalf("second enqueue: %s existing=%v, want the first %s", second.ID, second.Existing, first.ID)
	}
	if d := f.depth(t, catalog.EmailSync); d.Queued != 1 {
		t.Fatalf("queue after two enqueues of one singleton: %+v", d)
	}
	// Another key is another job.
	var other queue.Job
	err := f.q.InTx(ctx, func(tx *queue.Tx) error {
		var err error
		other, err = tx.Enqueue(ctx, email.SyncJob{UserID: f.user, AccountID: uuid.New()}, queue.Singleton("account:other"))
		return err
	})
	if err != nil {
		t.Fatalf("job with another key: %v", err)
	}
	if other.Existing {
		t.Fatalf("job with another key: Existing, want a new job")
	}
	if other.ID == first.ID {
		t.Fatalf("job with another key has the first job's id %v", other.ID)
	}
	// Once the job finished, the key is free.
	if _, err := f.pool.Exec(ctx, `update jobs set state = 'succeeded', finished_at = now() where id = $1`, first.ID); err != nil {
		t.Fatal(err)
	}
	third := sync(t)
	if third.Existing || third.ID == first.ID {
		t.Fatalf("enqueue after the job finished returned %s existing=%v", third.ID, third.Existing)
	}
}

func TestSingletonConcurrent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	p := email.SyncJob{UserID: f.user, AccountID: uuid.New()}
	const n = 8
	ids := make([]uuid.UUID, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := f.q.InTx(ctx, func(tx *queue.Tx) error {
				j, err := tx.Enqueue(ctx, p, queue.Singleton("one"))
				ids[i] = j.ID
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent enqueues of one singleton made several jobs: %v", ids)
		}
	}
	if c := f.count(t); c != 1 {
		t.Fatalf("%d jobs", c)
	}
}

func TestDelay(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	enqueue := func(t *testing.T, opt queue.Option) queue.Job {
		t.Helper()
		var j queue.Job
		err := f.q.InTx(ctx, func(tx *queue.Tx) error {
			var err error
			j, err = tx.Enqueue(ctx, contact.EnrichmentJob{UserID: f.user, ContactID: uuid.New()}, opt)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}

	t.Run("within the queue's own delay", func(t *testing.T) {
		j := enqueue(t, queue.Delay(5*time.Minute))
		if got := f.job(t, j.ID); got.State != queue.Sent || got.RunAt.Before(time.Now().Add(4*time.Minute)) {
			t.Fatalf("job: %s due %v", got.State, got.RunAt)
		}
		if d := f.depth(t, catalog.Enrichment); d.Delayed != 1 || d.Queued != 0 {
			t.Fatalf("queue: %+v", d)
		}
		f.clock.Add(5 * time.Minute)
		if d := f.depth(t, catalog.Enrichment); d.Queued != 1 {
			t.Fatalf("queue once due: %+v", d)
		}
		drain(t, f.mem, catalog.Enrichment)
	})

	t.Run("beyond it, through the relay", func(t *testing.T) {
		j := enqueue(t, queue.Delay(2*time.Hour))
		if got := f.job(t, j.ID); got.State != queue.Pending {
			t.Fatalf("job due in 2h: %s", got.State)
		}
		res, err := f.q.Relay(ctx, queue.RelayOptions{Grace: -1})
		if err != nil {
			t.Fatalf("relay with a job due in 2h: %v", err)
		}
		if res.Sent != 0 {
			t.Fatalf("relay sent %d jobs with one due in 2h, want 0", res.Sent)
		}
		if d := f.depth(t, catalog.Enrichment); d != (queue.Depth{}) {
			t.Fatalf("queue: %+v", d)
		}
		// Time passes: it is now due in three minutes.
		if _, err := f.pool.Exec(ctx, `update jobs set run_at = now() + interval '3 minutes' where id = $1`, j.ID); err != nil {
			t.Fatal(err)
		}
		res, err = f.q.Relay(ctx, queue.RelayOptions{Grace: -1})
		if err != nil {
			t.Fatalf("relay of a job due in 3 minutes: %v", err)
		}
		if res.Sent != 1 {
			t.Fatalf("relay of a job due in 3 minutes sent %d, want 1", res.Sent)
		}
		if d := f.depth(t, catalog.Enrichment); d.Delayed != 1 {
			t.Fatalf("queue: %+v, want the message delayed until due", d)
		}
		f.clock.Add(3 * time.Minute)
		ds := drain(t, f.mem, catalog.Enrichment)
		if len(ds) != 1 || ds[0].JobID != j.ID.String() {
			t.Fatalf("received %+v", ds)
		}
	})

	t.Run("at a time", func(t *testing.T) {
		at := time.Now().Add(48 * time.Hour).Truncate(time.Second)
		j := enqueue(t, queue.RunAt(at))
		if got := f.job(t, j.ID); !got.RunAt.Equal(at) || got.State != queue.Pending {
			t.Fatalf("job: %s due %v, want %v", got.State, got.RunAt, at)
		}
	})
}

func drain(t *testing.T, m *queue.Memory, kind string) []queue.Delivery {
	t.Helper()
	ds, err := m.Receive(context.Background(), kind, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	var receipts []string
	for _, d := range ds {
		receipts = append(receipts, d.ReceiptHandle)
	}
	if err := m.Delete(context.Background(), kind, receipts); err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestEnqueueRefusesBadJobs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		p     queue.Payload
		opts  []queue.Option
		field string
	}{
		{"missing user", contact.ExtractionJob{EmailID: uuid.New()}, nil, "userId"},
		{"missing email", contact.ExtractionJob{UserID: f.user}, nil, "emailId"},
		{"analysis without type", insight.AnalysisJob{UserID: f.user}, nil, "type"},
		{"analysis data not an object", insight.AnalysisJob{UserID: f.user, Type: "summary", Data: []byte(`[1]`)}, nil, "data"},
		{"negative delay", extraction(f.user), []queue.Option{queue.Delay(-time.Second)}, "delay"},
		{"blank singleton key", extraction(f.user), []queue.Option{queue.Singleton("   ")}, "singletonKey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.InTx(ctx, f.pool, func(tx db.Tx) error {
				_, err := queue.Enqueue(ctx, tx, tt.p, tt.opts...)
				return err
			})
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.KindInvalid || len(e.Fields[tt.field]) == 0 {
				t.Fatalf("error %v, want Invalid on %s", err, tt.field)
			}
		})
	}
	if n := f.count(t); n != 0 {
		t.Fatalf("%d jobs written", n)
	}
}

func TestGetIsPerUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	other, _ := testkit.User(t, f.pool, "other@example.com")
	var j queue.Job
	err := f.q.InTx(ctx, func(tx *queue.Tx) error {
		var err error
		j, err = tx.Enqueue(ctx, extraction(f.user))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r := queue.NewReader(f.pool)
	got, err := r.Get(ctx, f.user, j.ID)
	if err != nil {
		t.Fatalf("owner's get: %v", err)
	}
	if got.ID != j.ID {
		t.Fatalf("owner's get: job %v, want %v", got.ID, j.ID)
	}
	if _, err := r.Get(ctx, other, j.ID); !errs.Is(err, errs.KindNotFound) {
		t.Fatalf("another user's get: %v, want NotFound", err)
	}
}

func TestRetention(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	var ids []uuid.UUID
	err := f.q.InTx(ctx, func(tx *queue.Tx) error {
		for range 6 {
			j, err := tx.Enqueue(ctx, extraction(f.user))
			if err != nil {
				return err
			}
			ids = append(ids, j.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	set := func(id uuid.UUID, sql string) {
		t.Helper()
		if _, err := f.pool.Exec(ctx, `update jobs set `+sql+` where id = $1`, id); err != nil {
			t.Fatal(err)
		}
	}
	set(ids[0], `state = 'succeeded', finished_at = now() - interval '40 days'`) // deleted
	set(ids[1], `state = 'dead', finished_at = now() - interval '31 days'`)      // deleted
	set(ids[2], `state = 'succeeded', finished_at = now() - interval '2 days'`)  // kept
	set(ids[3], `state = 'sent', updated_at = now() - interval '6 days'`)        // expired
	set(ids[4], `state = 'running', updated_at = now() - interval '6 days', locked_until = now() - interval '6 days'`)
	// ids[5] is sent now: kept as it is.

	n, err := queue.DeleteFinished(ctx, f.pool, time.Now().Add(-queue.DefaultRetention))
	if err != nil {
		t.Fatalf("delete finished jobs: %v", err)
	}
	if n != 2 {
		t.Fatalf("deleted %d finished jobs, want 2", n)
	}
	n, err = queue.ExpireStale(ctx, f.pool, time.Now().Add(-5*24*time.Hour))
	if err != nil {
		t.Fatalf("expire stale jobs: %v", err)
	}
	if n != 2 {
		t.Fatalf("expired %d stale jobs, want 2", n)
	}
	want := map[uuid.UUID]queue.State{ids[2]: queue.Succeeded, ids[3]: queue.Dead, ids[4]: queue.Dead, ids[5]: queue.Sent}
	for id, state := range want {
		if got := f.job(t, id); got.State != state {
			t.Errorf("job %s: %s, want %s", id, got.State, state)
		}
	}
	for _, id := range ids[:2] {
		if _, err := queue.Get(ctx, f.pool, f.user, id); !errs.Is(err, errs.KindNotFound) {
			t.Errorf("job %s past retention: %v", id, err)
		}
	}
}

func TestHealthCheck(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	err := db.InTx(ctx, f.pool, func(tx db.Tx) error {
		_, err := queue.Enqueue(ctx, tx, extraction(f.user)) // unsent
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.mem.Send(ctx, catalog.Enrichment, []queue.Message{{JobID: uuid.New(), Kind: catalog.Enrichment, Body: []byte("{}")}}); err != nil {
		t.Fatal(err)
	}
	c := f.q.Check()
	if c.Name != "queue" || c.Required {
		t.Fatalf("check %s required=%v", c.Name, c.Required)
	}
	facts, err := c.Facts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(facts) != 5*len(queue.Kinds()) {
		t.Fatalf("%d facts for %d job types, want 5 each: %v", len(facts), len(queue.Kinds()), facts)
	}
	if facts[catalog.ContactExtraction+".unsent"] != 1 || facts[catalog.ContactExtraction+".queued"] != 0 {
		t.Errorf("contact-extraction: %v", facts)
	}
	if facts[catalog.Enrichment+".queued"] != 1 {
		t.Errorf("enrichment: %v", facts)
	}

	noBackend := queue.New(f.pool, nil, nil).Check()
	facts, err = noBackend.Facts(ctx)
	if err != nil {
		t.Fatalf("facts without a backend: %v", err)
	}
	if got := facts[catalog.ContactExtraction+".unsent"]; got != 1 {
		t.Fatalf("without a backend: %s.unsent = %v, want 1", catalog.ContactExtraction, got)
	}
	if len(facts) != len(queue.Kinds()) {
		t.Fatalf("without a backend: %d facts, want one per kind (%d): %v", len(facts), len(queue.Kinds()), facts)
	}
}
