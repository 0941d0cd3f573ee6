package queue

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Names of the message attributes a job's message carries besides its
// body, which is the job's payload. A message without them (one sent by a
// schedule) is a job of the queue's own type with no row yet.
const (
	AttrJobID = "JobId"
	AttrKind  = "JobKind"
)

// Message is one job's message.
type Message struct {
	JobID uuid.UUID
	Kind  string
	// Body is the job's payload.
	Body []byte
	// Delay keeps the message invisible for this long, at most MaxDelay.
	Delay time.Duration
}

// Depth is how many messages a job type's queues hold.
type Depth struct {
	// Queued messages can be received now.
	Queued int `json:"queued"`
	// InFlight messages are being handled, or waiting out a backoff.
	InFlight int `json:"inFlight"`
	// Delayed messages were sent with a delay that has not passed.
	Delayed int `json:"delayed"`
	// DeadLetters are messages in the dead-letter queue.
	DeadLetters int `json:"deadLetters"`
}

// Backend is a message queue with one queue and one dead-letter queue per
// job type: SQS in AWS, Memory locally.
type Backend interface {
	// Send puts msgs on kind's queue and returns the jobs whose message
	// was accepted; err says why the others were not.
	Send(ctx context.Context, kind string, msgs []Message) (sent []uuid.UUID, err error)
	// ChangeVisibility makes a received message visible again after d
	// (zero: at once), for a retry after a backoff.
	ChangeVisibility(ctx context.Context, kind, receipt string, d time.Duration) error
	// Depth counts the messages of kind's queues.
	Depth(ctx context.Context, kind string) (Depth, error)
}

// Receiver is the consumer side of a Backend, which Lambda's SQS event
// source plays in AWS: the local server and tests poll through it.
type Receiver interface {
	// Receive returns up to max visible messages of kind, waiting up to
	// wait for the first. Each becomes invisible for the queue's
	// visibility timeout; a message received as often as the queue's
	// redrive limit moves to the dead-letter queue instead.
	Receive(ctx context.Context, kind string, max int, wait time.Duration) ([]Delivery, error)
	// Delete removes received messages, by receipt handle.
	Delete(ctx context.Context, kind string, receipts []string) error
}

// Delivery is one received message.
type Delivery struct {
	MessageID     string
	ReceiptHandle string
	Body          string
	// JobID and Kind are the message's attributes, empty when absent.
	JobID, Kind string
	// ReceiveCount counts the receives of the message, this one included.
	ReceiveCount    int
	SentAt          time.Time
	FirstReceivedAt time.Time
}
