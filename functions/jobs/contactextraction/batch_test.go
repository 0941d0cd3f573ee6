package contactextraction_test

import (
	"context"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/personalcrm/core/functions/jobs/contactextraction"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/worker"
	"github.com/personalcrm/core/shared/testkit"
)

// TestContactExtractionOfAMixedBatch: one batch holds new emails, emails
// extracted before (under new jobs), another user's emails and an email
// that is gone; every job succeeds and each email counts once, for each
// user.
func TestContactExtractionOfAMixedBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testkit.DB(t)
	mem := queue.NewMemory(queue.MemoryOptions{})
	q := queue.New(pool, mem, nil)
	w := contactextraction.Worker(worker.Deps{DB: pool, Backend: mem}, email.WithIgnore())
	poll := func() int {
		n, err := worker.PollOnce(ctx, mem, w.Function(), w.Handle, 0)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	a := seed(t, pool, 6, 5)
	b := seed(t, pool, 2, 5)

	first := enqueueAll(t, q, mailbox{user: a.user, emails: a.emails[:3]})
	if n := poll(); n != len(first) {
		t.Fatalf("first batch of %d", n)
	}
	var jobs []queue.Job
	jobs = append(jobs, first...)
	jobs = append(jobs, enqueueAll(t, q, mailbox{user: a.user, emails: a.emails})...) // three of them known
	jobs = append(jobs, enqueueAll(t, q, mailbox{user: b.user, emails: b.emails})...)
	jobs = append(jobs, enqueueAll(t, q, mailbox{user: a.user, emails: []uuid.UUID{uuid.New()}})...)
	if n := poll(); n != 9 {
		t.Fatalf("mixed batch of %d, want 9", n)
	}
	if n := poll(); n != 0 {
		t.Fatalf("%d messages left", n)
	}
	for _, m := range []mailbox{a, b} {
		if n := duplicateEffects(t, pool, m); n != 0 {
			t.Errorf("user %s: %d effects off", m.user, n)
		}
	}
	for _, j := range jobs {
		got, err := queue.Get(ctx, pool, *j.UserID, j.ID)
		if err != nil || got.State != queue.Succeeded || got.Attempts != 1 {
			t.Errorf("job %s: %+v %v", j.ID, got, err)
		}
	}
}

// enqueuePages writes a contact-extraction job per page of the given
// emails of m, as a sync does, and sends them.
func enqueuePages(tb testing.TB, q *queue.Queue, user uuid.UUID, pages ...[]uuid.UUID) []queue.Job {
	tb.Helper()
	var jobs []queue.Job
	err := q.InTx(context.Background(), func(tx *queue.Tx) error {
		var ps []queue.Payload
		for _, page := range pages {
			ps = append(ps, contact.ExtractionJob{UserID: user, EmailIDs: page})
		}
		var err error
		jobs, err = tx.EnqueueAll(context.Background(), ps)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return jobs
}

// TestContactExtractionOfPages: jobs that each name a page of emails,
// pages that overlap, a page with an email that is gone and one of
// another user, run in one batch and in batches of their own, delivered
// twice, and run again after a crash between their work and its outcome:
// every email counts once.
func TestContactExtractionOfPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testkit.DB(t)
	mem := queue.NewMemory(queue.MemoryOptions{})
	q := queue.New(pool, mem, nil)
	w := contactextraction.Worker(worker.Deps{DB: pool, Backend: mem}, email.WithIgnore())
	fn := w.Function()
	a := seed(t, pool, 40, 9)
	b := seed(t, pool, 12, 4)
	receive := func() []events.SQSEvent {
		var out []events.SQSEvent
		for {
			ds, err := mem.Receive(ctx, fn.Name, fn.BatchSize, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) == 0 {
				return out
			}
			out = append(out, worker.Event(fn.Name, ds))
		}
	}
	handle := func(evs []events.SQSEvent) {
		for _, ev := range evs {
			res, err := w.Handle(ctx, ev)
			if err != nil || len(res.BatchItemFailures) != 0 {
				t.Fatalf("%+v %v", res, err)
			}
		}
	}
	check := func(when string) {
		t.Helper()
		for _, m := range []mailbox{a, b} {
			if n := duplicateEffects(t, pool, m); n != 0 {
				got, _ := counts(t, pool, m.user)
				t.Fatalf("%s: user %s: %d effects off\n%s", when, m.user, n, cmp.Diff(m.want, got))
			}
		}
	}

	// The first page alone, then the rest with an overlapping page, a
	// page naming an email that is gone, and another user's page naming
	// one of the first user's emails, which it must not count.
	jobs := enqueuePages(t, q, a.user, a.emails[:15])
	first := receive()
	handle(first)
	jobs = append(jobs, enqueuePages(t, q, a.user, a.emails[15:30], a.emails[10:20], append([]uuid.UUID{uuid.New()}, a.emails[30:]...))...)
	jobs = append(jobs, enqueuePages(t, q, b.user, append(slices.Clone(b.emails), a.emails[0]))...)
	rest := receive()
	handle(rest)
	check("first run")
	// SQS delivers every batch again.
	handle(append(first, rest...))
	check("second delivery")
	for _, j := range jobs {
		got, err := queue.Get(ctx, pool, *j.UserID, j.ID)
		if err != nil || got.State != queue.Succeeded || got.Attempts != 1 {
			t.Fatalf("job %s: %+v %v", j.ID, got, err)
		}
	}

	// A crash after a job's work and before its outcome: its claim
	// lapses, its message comes back and it runs again.
	for _, j := range jobs {
		if _, err := pool.Exec(ctx, `update jobs set state = 'running', locked_until = now() - interval '1 second',
			finished_at = null where id = $1`, j.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := mem.Send(ctx, j.Kind, []queue.Message{{JobID: j.ID, Kind: j.Kind, Body: j.Payload}}); err != nil {
			t.Fatal(err)
		}
	}
	handle(receive())
	check("run again")
	for _, j := range jobs {
		got, err := queue.Get(ctx, pool, *j.UserID, j.ID)
		if err != nil || got.State != queue.Succeeded || got.Attempts != 2 {
			t.Fatalf("job %s run again: %+v %v", j.ID, got, err)
		}
	}
}
