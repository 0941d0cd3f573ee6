package worker

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/queue"
)

// BatchHandler handles one batch of SQS messages, as a job Lambda does.
type BatchHandler func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// Event is the SQS event Lambda would deliver for ds, received from the
// queue of job type kind.
func Event(kind string, ds []queue.Delivery) events.SQSEvent {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(ds))}
	arn := "arn:aws:sqs:local:000000000000:" + kind
	for i, d := range ds {
		rec := events.SQSMessage{
			MessageId:     d.MessageID,
			ReceiptHandle: d.ReceiptHandle,
			Body:          d.Body,
			Attributes: map[string]string{
				"ApproximateReceiveCount":          strconv.Itoa(d.ReceiveCount),
				"SentTimestamp":                    millis(d.SentAt),
				"ApproximateFirstReceiveTimestamp": millis(d.FirstReceivedAt),
			},
			MessageAttributes: map[string]events.SQSMessageAttribute{},
			EventSource:       "aws:sqs",
			EventSourceARN:    arn,
			AWSRegion:         "local",
		}
		for name, v := range map[string]string{queue.AttrJobID: d.JobID, queue.AttrKind: d.Kind} {
			if v != "" {
				rec.MessageAttributes[name] = events.SQSMessageAttribute{DataType: "String", StringValue: &v}
			}
		}
		ev.Records[i] = rec
	}
	return ev
}

func millis(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

// PollOnce receives one batch of up to fn's batch size from r, waiting up
// to wait for it, hands it to h as an SQS event and deletes the messages h
// did not report as failed, as Lambda's SQS event source does. When h
// returns an error nothing is deleted. It returns how many messages the
// batch had.
func PollOnce(ctx context.Context, r queue.Receiver, fn catalog.Function, h BatchHandler, wait time.Duration) (int, error) {
	ds, err := r.Receive(ctx, fn.Name, fn.BatchSize, wait)
	if err != nil || len(ds) == 0 {
		return 0, err
	}
	res, err := h(ctx, Event(fn.Name, ds))
	if err != nil {
		return len(ds), nil // the batch comes back after its visibility timeout
	}
	failed := map[string]bool{}
	for _, f := range res.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	var receipts []string
	for _, d := range ds {
		if !failed[d.MessageID] {
			receipts = append(receipts, d.ReceiptHandle)
		}
	}
	if len(receipts) > 0 {
		if err := r.Delete(ctx, fn.Name, receipts); err != nil {
			return len(ds), err
		}
	}
	return len(ds), nil
}

// Poll runs PollOnce in a loop until ctx ends: the local stand-in for
// Lambda's SQS event source, so that the local server hands the job
// handlers the same batches Lambda does.
func Poll(ctx context.Context, r queue.Receiver, fn catalog.Function, h BatchHandler, log *slog.Logger) {
	if log == nil {
		log = logging.Discard()
	}
	for ctx.Err() == nil {
		if _, err := PollOnce(ctx, r, fn, h, 20*time.Second); err != nil && !errors.Is(err, context.Canceled) {
			log.WarnContext(ctx, "job poll failed", "kind", fn.Name, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}
