package sqsqueue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/awsjson"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
	"github.com/personalcrm/core/shared/testkit"
)

// Against the emulator: a message sent with a delay comes back with its
// job's attributes and counts, and the queue's depth counts it on the
// way; a queue that is gone answers QueueDoesNotExist, which reaches the
// caller as an *awsjson.Error.
func TestEmulatorRoundTripAndQueueDoesNotExist(t *testing.T) {
	t.Parallel()
	e := testkit.SQS(t)
	urls, b := e.JobQueues(t)
	kind := catalog.Enrichment
	ctx := context.Background()

	id := uuid.New()
	sent, err := b.Send(ctx, kind, []queue.Message{{JobID: id, Kind: kind, Body: []byte(`{"contact":"c-1"}`), Delay: time.Second}})
	if err != nil || len(sent) != 1 || sent[0] != id {
		t.Fatalf("send: %v, sent %v", err, sent)
	}
	d, err := b.Depth(ctx, kind)
	if err != nil {
		t.Fatal(err)
	}
	if d.Queued+d.Delayed != 1 || d.DeadLetters != 0 {
		t.Errorf("depth %+v, want the one message queued or delayed", d)
	}
	ds, err := b.Receive(ctx, kind, 10, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 {
		t.Fatalf("received %d messages, want 1", len(ds))
	}
	m := ds[0]
	if m.JobID != id.String() || m.Kind != kind || m.Body != `{"contact":"c-1"}` || m.ReceiveCount != 1 || m.SentAt.IsZero() || m.FirstReceivedAt.IsZero() {
		t.Errorf("delivery %+v", m)
	}
	if err := b.ChangeVisibility(ctx, kind, m.ReceiptHandle, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, kind, []string{m.ReceiptHandle}); err != nil {
		t.Fatal(err)
	}

	gone := sqsqueue.New(map[string]string{kind: urls[kind] + "-gone"}, sqsqueue.Options{
		Region: "us-east-1", Endpoint: e.Endpoint, Credentials: e.Client().Options().Credentials,
	})
	_, err = gone.Depth(ctx, kind)
	var aerr *awsjson.Error
	if !errors.As(err, &aerr) || aerr.Code != "QueueDoesNotExist" || aerr.Status != 400 {
		t.Fatalf("depth of a missing queue: err = %v, want QueueDoesNotExist", err)
	}
	t.Logf("missing queue: %v (query code %q)", err, aerr.QueryCode)
}
