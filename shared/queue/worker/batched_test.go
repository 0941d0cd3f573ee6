package worker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/worker"
)

// batched returns the contact-extraction worker whose jobs of a batch run
// together, failing those fail says (nil: succeed), counting each job's
// runs and the handler's calls in sizes.
func (f *fixture) batched(fail func(queue.Job) error, sizes *[]int) *worker.Worker {
	h := func(ctx context.Context, jobs []queue.Job, ps []contact.ExtractionJob) []error {
		*sizes = append(*sizes, len(jobs))
		out := make([]error, len(jobs))
		for i, j := range jobs {
			if ps[i].UserID != f.user {
				out[i] = errors.New("payload of another job")
			}
			f.calls.add(j.ID)
			if fail != nil && out[i] == nil {
				out[i] = fail(j)
			}
		}
		return out
	}
	return worker.NewBatched(f.fn, f.pool, f.b, h, worker.Options{Backoff: noBackoff})
}

func TestBatchedRunsABatchInOneCallWithOutcomesPerJob(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	jobs := f.enqueue(t, 6)
	bad := jobs[2].ID
	var sizes []int
	w := f.batched(func(j queue.Job) error {
		if j.ID == bad {
			return queue.Permanent(errors.New("no"))
		}
		return nil
	}, &sizes)
	ev := worker.Event(f.fn.Name, f.receive(t))
	res, err := w.Handle(context.Background(), ev)
	if err != nil || len(res.BatchItemFailures) != 1 {
		t.Fatalf("batch: %+v %v", res, err)
	}
	if len(sizes) != 1 || sizes[0] != len(jobs) {
		t.Fatalf("handler called with batches %v, want one of %d", sizes, len(jobs))
	}
	// The batch again, and each message twice in one: nothing runs twice.
	doubled := ev
	doubled.Records = append(append(doubled.Records[:0:0], ev.Records...), ev.Records...)
	if _, err := w.Handle(context.Background(), doubled); err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		got := f.job(t, j.ID)
		want := queue.Succeeded
		if j.ID == bad {
			want = queue.Dead
		}
		if n := f.calls.of(j.ID); n != 1 || got.State != want || got.Attempts != 1 {
			t.Errorf("job %s: ran %d times, state %s, attempts %d; want once, %s", j.ID, n, got.State, got.Attempts, want)
		}
	}
}

func TestBatchedPanicFailsEveryJobForARetry(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	jobs := f.enqueue(t, 3)
	var sizes []int
	w := f.batched(func(queue.Job) error { panic("boom") }, &sizes)
	res, err := w.Handle(context.Background(), worker.Event(f.fn.Name, f.receive(t)))
	if err != nil || len(res.BatchItemFailures) != len(jobs) {
		t.Fatalf("batch: %+v %v", res, err)
	}
	for _, j := range jobs {
		if got := f.job(t, j.ID); got.State != queue.Failed || got.LastError == nil {
			t.Errorf("job %s: %+v", j.ID, got)
		}
	}
}
