package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/catalog"
)

// MaxVisibility is the longest SQS keeps a received message invisible.
const MaxVisibility = 12 * time.Hour

// VisibilityTimeout is the visibility timeout of a job type's queue: six
// times the function's timeout, as AWS advises for Lambda consumers (the
// infrastructure sets the same on SQS).
func VisibilityTimeout(fn catalog.Function) time.Duration {
	t := fn.Timeout
	if t <= 0 {
		t = catalog.DefaultTimeout
	}
	return min(6*t, MaxVisibility)
}

// Memory is an in-process Backend and Receiver with SQS's semantics: one
// queue and one dead-letter queue per job type, delayed messages, a
// visibility timeout per receive, and redrive to the dead-letter queue of a
// message received as many times as its type's max attempts. It serves
// the local server and tests; it is safe for concurrent use.
type Memory struct {
	now func() time.Time

	mu      sync.Mutex
	queues  map[string]*memQueue
	changed chan struct{} // closed and replaced when a message may have become receivable
}

type memQueue struct {
	visibility time.Duration
	maxReceive int
	msgs       []*memMessage // in send order
	dead       []*memMessage
}

type memMessage struct {
	id, body, jobID, kind string
	sentAt, visibleAt     time.Time
	firstReceivedAt       time.Time
	receives              int
	receipt               string // of the latest receive; "" when never received
	delayed               bool   // not yet received, visible only after its delay
}

// MemoryOptions configure a Memory.
type MemoryOptions struct {
	// Now is the clock; nil is time.Now. Tests pass a clock they move.
	Now func() time.Time
}

// NewMemory returns an empty Memory with a queue for every job type of
// the catalog.
func NewMemory(o MemoryOptions) *Memory {
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Memory{now: o.Now, queues: map[string]*memQueue{}, changed: make(chan struct{})}
	for _, fn := range catalog.Jobs() {
		m.queues[fn.Name] = &memQueue{visibility: VisibilityTimeout(fn), maxReceive: fn.MaxAttempts}
	}
	return m
}

func (m *Memory) queue(kind string) (*memQueue, error) {
	q, ok := m.queues[kind]
	if !ok {
		return nil, fmt.Errorf("memory queue: no queue for job type %q", kind)
	}
	return q, nil
}

// notify wakes long polls; m.mu is held.
func (m *Memory) notify() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// Send implements Backend.
func (m *Memory) Send(ctx context.Context, kind string, msgs []Message) ([]uuid.UUID, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, err := m.queue(kind)
	if err != nil {
		return nil, err
	}
	now := m.now()
	sent := make([]uuid.UUID, 0, len(msgs))
	for _, msg := range msgs {
		d := min(max(msg.Delay, 0), MaxDelay)
		q.msgs = append(q.msgs, &memMessage{
			id: randomID(), body: string(msg.Body), jobID: msg.JobID.String(), kind: msg.Kind,
			sentAt: now, visibleAt: now.Add(d), delayed: d > 0,
		})
		sent = append(sent, msg.JobID)
	}
	m.notify()
	return sent, nil
}

// SendRaw puts a message with body and no attributes on kind's queue, as
// a schedule does.
func (m *Memory) SendRaw(kind, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, err := m.queue(kind)
	if err != nil {
		return err
	}
	now := m.now()
	q.msgs = append(q.msgs, &memMessage{id: randomID(), body: body, sentAt: now, visibleAt: now})
	m.notify()
	return nil
}

// Receive implements Receiver.
func (m *Memory) Receive(ctx context.Context, kind string, limit int, wait time.Duration) ([]Delivery, error) {
	if limit <= 0 {
		limit = 1
	}
	var deadline time.Time
	if wait > 0 {
		deadline = time.Now().Add(wait)
	}
	for {
		m.mu.Lock()
		q, err := m.queue(kind)
		if err != nil {
			m.mu.Unlock()
			return nil, err
		}
		out, next := m.receive(q, limit)
		changed := m.changed
		m.mu.Unlock()
		if len(out) > 0 || wait <= 0 {
			return out, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		if !next.IsZero() {
			// The clock may not be the wall clock; wait at most a
			// little at a time for the next message to become visible.
			left = min(left, max(next.Sub(m.now()), time.Millisecond), 100*time.Millisecond)
		}
		t := time.NewTimer(left)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

// receive takes up to limit visible messages of q and returns them with the
// time the next invisible one becomes visible; m.mu is held.
func (m *Memory) receive(q *memQueue, limit int) ([]Delivery, time.Time) {
	now := m.now()
	var out []Delivery
	var next time.Time
	kept := q.msgs[:0]
	for _, msg := range q.msgs {
		if len(out) >= limit || msg.visibleAt.After(now) {
			if msg.visibleAt.After(now) && (next.IsZero() || msg.visibleAt.Before(next)) {
				next = msg.visibleAt
			}
			kept = append(kept, msg)
			continue
		}
		if q.maxReceive > 0 && msg.receives >= q.maxReceive {
			// SQS moves a message received as often as the redrive
			// policy allows instead of delivering it again.
			msg.receipt = ""
			q.dead = append(q.dead, msg)
			continue
		}
		msg.receives++
		msg.delayed = false
		if msg.firstReceivedAt.IsZero() {
			msg.firstReceivedAt = now
		}
		msg.receipt = msg.id + "." + randomID()
		msg.visibleAt = now.Add(q.visibility)
		out = append(out, msg.delivery())
		kept = append(kept, msg)
	}
	clear(q.msgs[len(kept):])
	q.msgs = kept
	return out, next
}

func (msg *memMessage) delivery() Delivery {
	return Delivery{
		MessageID: msg.id, ReceiptHandle: msg.receipt, Body: msg.body, JobID: msg.jobID, Kind: msg.kind,
		ReceiveCount: msg.receives, SentAt: msg.sentAt, FirstReceivedAt: msg.firstReceivedAt,
	}
}

// ErrReceipt is returned for a receipt handle that is not the latest
// receive of a message still on the queue.
var ErrReceipt = fmt.Errorf("memory queue: receipt handle is not valid")

func (q *memQueue) byReceipt(receipt string) (int, *memMessage) {
	if receipt == "" {
		return -1, nil
	}
	for i, msg := range q.msgs {
		if msg.receipt == receipt {
			return i, msg
		}
	}
	return -1, nil
}

// Delete implements Receiver.
func (m *Memory) Delete(ctx context.Context, kind string, receipts []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, err := m.queue(kind)
	if err != nil {
		return err
	}
	for _, r := range receipts {
		i, _ := q.byReceipt(r)
		if i < 0 {
			return ErrReceipt
		}
		q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
	}
	return nil
}

// ChangeVisibility implements Backend.
func (m *Memory) ChangeVisibility(ctx context.Context, kind, receipt string, d time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, err := m.queue(kind)
	if err != nil {
		return err
	}
	_, msg := q.byReceipt(receipt)
	if msg == nil || !msg.visibleAt.After(m.now()) {
		return ErrReceipt
	}
	msg.visibleAt = m.now().Add(min(max(d, 0), MaxVisibility))
	m.notify()
	return nil
}

// Depth implements Backend.
func (m *Memory) Depth(ctx context.Context, kind string) (Depth, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, err := m.queue(kind)
	if err != nil {
		return Depth{}, err
	}
	now := m.now()
	d := Depth{DeadLetters: len(q.dead)}
	for _, msg := range q.msgs {
		switch {
		case !msg.visibleAt.After(now):
			d.Queued++
		case msg.delayed:
			d.Delayed++
		default:
			d.InFlight++
		}
	}
	return d, nil
}

// DeadLetters returns the messages in kind's dead-letter queue, oldest
// first.
func (m *Memory) DeadLetters(kind string) []Delivery {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, err := m.queue(kind)
	if err != nil {
		return nil
	}
	out := make([]Delivery, len(q.dead))
	for i, msg := range q.dead {
		out[i] = msg.delivery()
	}
	return out
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
