// Package outboxrelay is the outbox-relay operation: it sends the jobs
// that were committed but not sent.
package outboxrelay

import (
	"context"

	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
)

// New builds the outbox-relay operation of app's function, sending on SQS.
func New(app *platform.App) (platform.Op, error) { return Relay(sqsqueue.Queue(app)), nil }

// Relay sends the jobs the outbox holds that are due.
func Relay(q *queue.Queue) platform.Op {
	return func(ctx context.Context) (any, error) {
		return q.Relay(ctx, queue.RelayOptions{})
	}
}
