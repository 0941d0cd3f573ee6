package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/testkit"
)

// backend is one implementation of queue.Backend and queue.Receiver under
// the contract test.
type backend interface {
	queue.Backend
	queue.Receiver
}

// harness runs the contract against one backend. later receives what
// becomes visible after d: the in-memory queue moves its clock, SQS waits.
type harness struct {
	b     backend
	later func(t *testing.T, kind string, d time.Duration, limit int) []queue.Delivery
}

func memoryHarness(t *testing.T) harness {
	c := testkit.NewClock(time.Now())
	m := queue.NewMemory(queue.MemoryOptions{Now: c.Now})
	return harness{b: m, later: func(t *testing.T, kind string, d time.Duration, limit int) []queue.Delivery {
		c.Add(d)
		ds, err := m.Receive(context.Background(), kind, limit, 0)
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}}
}

func sqsHarness(t *testing.T) harness {
	_, b := testkit.SQS(t).JobQueues(t)
	return harness{b: b, later: func(t *testing.T, kind string, d time.Duration, limit int) []queue.Delivery {
		ds, err := b.Receive(context.Background(), kind, limit, d+2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}}
}

// TestBackendContract runs the same behaviour against the in-memory queue
// and SQS (the emulator): what the worker and the relay rely on.
func TestBackendContract(t *testing.T) {
	t.Parallel()
	for name, newHarness := range map[string]func(*testing.T) harness{"memory": memoryHarness, "sqs": sqsHarness} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t.Run("send receive delete", func(t *testing.T) {
				t.Parallel()
				testSendReceiveDelete(t, newHarness(t))
			})
			t.Run("visibility and redelivery", func(t *testing.T) {
				t.Parallel()
				testRedelivery(t, newHarness(t))
			})
			t.Run("redrive to the dead-letter queue", func(t *testing.T) {
				t.Parallel()
				testRedrive(t, newHarness(t))
			})
			t.Run("delay", func(t *testing.T) {
				t.Parallel()
				testDelay(t, newHarness(t))
			})
			t.Run("unknown job type", func(t *testing.T) {
				t.Parallel()
				h := newHarness(t)
				if _, err := h.b.Send(context.Background(), "mystery", []queue.Message{{JobID: uuid.New(), Kind: "mystery", Body: []byte("{}")}}); err == nil {
					t.Error("send to an unknown job type succeeded")
				}
			})
		})
	}
}

func send(t *testing.T, b backend, kind string, n int, delay time.Duration) map[string]string {
	t.Helper()
	msgs := make([]queue.Message, n)
	want := map[string]string{}
	for i := range msgs {
		id := uuid.Must(uuid.NewV7())
		body := `{"userId":"` + uuid.NewString() + `","n":` + string(rune('0'+i%10)) + `}`
		msgs[i] = queue.Message{JobID: id, Kind: kind, Body: []byte(body), Delay: delay}
		want[id.String()] = body
	}
	sent, err := b.Send(context.Background(), kind, msgs)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if len(sent) != n {
		t.Fatalf("sent %d of %d", len(sent), n)
	}
	return want
}

// receiveAll receives until n messages came, each long poll at most 5s.
func receiveAll(t *testing.T, b backend, kind string, n int) []queue.Delivery {
	t.Helper()
	var out []queue.Delivery
	for range 2 * n {
		if len(out) >= n {
			break
		}
		ds, err := b.Receive(context.Background(), kind, n-len(out), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ds...)
	}
	if len(out) != n {
		t.Fatalf("received %d messages, want %d", len(out), n)
	}
	return out
}

func depth(t *testing.T, b backend, kind string) queue.Depth {
	t.Helper()
	d, err := b.Depth(context.Background(), kind)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func testSendReceiveDelete(t *testing.T, h harness) {
	kind := catalog.ContactExtraction
	want := send(t, h.b, kind, 12, 0)
	if d := depth(t, h.b, kind); d.Queued != 12 {
		t.Errorf("depth after sending 12: %+v", d)
	}
	ds := receiveAll(t, h.b, kind, 12)
	var receipts []string
	for _, d := range ds {
		if want[d.JobID] != d.Body || d.Kind != kind || d.ReceiveCount != 1 || d.MessageID == "" || d.SentAt.IsZero() {
			t.Errorf("delivery %+v: want job %s body %s, kind %s, first receive", d, d.JobID, want[d.JobID], kind)
		}
		delete(want, d.JobID)
		receipts = append(receipts, d.ReceiptHandle)
	}
	if len(want) != 0 {
		t.Errorf("jobs never received: %v", want)
	}
	if d := depth(t, h.b, kind); d.Queued != 0 || d.InFlight != 12 {
		t.Errorf("depth while all are in flight: %+v", d)
	}
	if err := h.b.Delete(context.Background(), kind, receipts); err != nil {
		t.Fatal(err)
	}
	if d := depth(t, h.b, kind); d != (queue.Depth{}) {
		t.Errorf("depth after deleting all: %+v", d)
	}
}

func testRedelivery(t *testing.T, h harness) {
	kind := catalog.ContactExtraction
	send(t, h.b, kind, 1, 0)
	first := receiveAll(t, h.b, kind, 1)[0]
	ds, err := h.b.Receive(context.Background(), kind, 10, 0)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if len(ds) != 0 {
		t.Fatalf("received message visible again at once: %v", ds)
	}
	// A failed job's message is released for its retry.
	if err := h.b.ChangeVisibility(context.Background(), kind, first.ReceiptHandle, 0); err != nil {
		t.Fatal(err)
	}
	again := receiveAll(t, h.b, kind, 1)[0]
	if again.MessageID != first.MessageID {
		t.Errorf("redelivery of message %s, want %s", again.MessageID, first.MessageID)
	}
	if again.ReceiveCount != 2 {
		t.Errorf("redelivery received %d times, want 2", again.ReceiveCount)
	}
	if again.JobID != first.JobID {
		t.Errorf("redelivery of job %s, want %s", again.JobID, first.JobID)
	}
	// A backoff keeps it away until it has passed.
	if err := h.b.ChangeVisibility(context.Background(), kind, again.ReceiptHandle, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	ds, err = h.b.Receive(context.Background(), kind, 10, 0)
	if err != nil {
		t.Fatalf("receive during the backoff: %v", err)
	}
	if len(ds) != 0 {
		t.Fatalf("message visible during its backoff: %v", ds)
	}
	ds = h.later(t, kind, 2*time.Second, 10)
	if len(ds) != 1 || ds[0].MessageID != first.MessageID || ds[0].ReceiveCount != 3 {
		t.Fatalf("after the backoff got %+v, want the message a third time", ds)
	}
}

func testRedrive(t *testing.T, h harness) {
	kind := catalog.Enrichment
	max := catalog.MustLookup(kind).MaxAttempts
	want := send(t, h.b, kind, 1, 0)
	for i := 1; i <= max; i++ {
		d := receiveAll(t, h.b, kind, 1)[0]
		if d.ReceiveCount != i {
			t.Fatalf("receive %d: count %d", i, d.ReceiveCount)
		}
		if err := h.b.ChangeVisibility(context.Background(), kind, d.ReceiptHandle, 0); err != nil {
			t.Fatal(err)
		}
	}
	// Received max times: the next receive moves it instead.
	ds, err := h.b.Receive(context.Background(), kind, 10, time.Second)
	if err != nil {
		t.Fatalf("receive past the max attempts: %v", err)
	}
	if len(ds) != 0 {
		t.Fatalf("message delivered past its max attempts: %+v", ds)
	}
	if d := depth(t, h.b, kind); d.DeadLetters != 1 || d.Queued != 0 || d.InFlight != 0 {
		t.Fatalf("depth after redrive: %+v, want one dead letter", d)
	}
	if m, ok := h.b.(*queue.Memory); ok {
		dead := m.DeadLetters(kind)
		if len(dead) != 1 || want[dead[0].JobID] != dead[0].Body {
			t.Fatalf("dead letters %+v", dead)
		}
	}
}

func testDelay(t *testing.T, h harness) {
	kind := catalog.ContactExtraction
	want := send(t, h.b, kind, 1, time.Second)
	ds, err := h.b.Receive(context.Background(), kind, 10, 0)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if len(ds) != 0 {
		t.Fatalf("delayed message received at once: %v", ds)
	}
	if d := depth(t, h.b, kind); d.Delayed != 1 || d.Queued != 0 {
		t.Errorf("depth of a delayed message: %+v", d)
	}
	ds = h.later(t, kind, time.Second, 10)
	if len(ds) != 1 || want[ds[0].JobID] != ds[0].Body {
		t.Fatalf("after its delay got %+v", ds)
	}
}
