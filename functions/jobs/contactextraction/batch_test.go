package contactextraction_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/personalcrm/core/functions/jobs/contactextraction"
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
