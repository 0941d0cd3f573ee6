package queue_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/queue"
)

func TestEnqueueAllSendsEveryJobAfterCommit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ps := []queue.Payload{extraction(f.user), extraction(f.user), extraction(f.user)}
	var js []queue.Job
	err := f.q.InTx(ctx, func(tx *queue.Tx) error {
		var err error
		js, err = tx.EnqueueAll(ctx, ps)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != len(ps) {
		t.Fatalf("%d jobs for %d payloads", len(js), len(ps))
	}
	for i, j := range js {
		got := f.job(t, j.ID)
		p, err := queue.Decode[contact.ExtractionJob](got.Payload)
		if err != nil || !cmp.Equal(p, ps[i].(contact.ExtractionJob)) || got.State != queue.Sent ||
			got.MaxAttempts != catalog.MustLookup(catalog.ContactExtraction).MaxAttempts {
			t.Errorf("job %d: %+v %v", i, got, err)
		}
	}
	ds, err := f.mem.Receive(ctx, catalog.ContactExtraction, 10, 0)
	if err != nil || len(ds) != len(ps) {
		t.Fatalf("queue holds %d messages: %v", len(ds), err)
	}
}

func TestEnqueueAllRefusesABadPageWhole(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ps := []queue.Payload{extraction(f.user), contact.ExtractionJob{UserID: f.user, EmailID: uuid.Nil}}
	err := f.q.InTx(ctx, func(tx *queue.Tx) error {
		_, err := tx.EnqueueAll(ctx, ps)
		return err
	})
	if err == nil || f.count(t) != 0 {
		t.Fatalf("bad page: %v, %d jobs written", err, f.count(t))
	}
	// Nothing to enqueue writes nothing.
	if err := f.q.InTx(ctx, func(tx *queue.Tx) error {
		js, err := tx.EnqueueAll(ctx, nil)
		if len(js) != 0 {
			t.Errorf("%d jobs", len(js))
		}
		return err
	}); err != nil || f.count(t) != 0 {
		t.Fatalf("empty page: %v", err)
	}
}
