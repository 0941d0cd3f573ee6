// Package sqsqueue is the Amazon SQS backend of the job queue, through
// aws-sdk-go-v2: one standard queue per job type, whose redrive policy
// names its dead-letter queue.
//
// The client is built at first use, from the environment Lambda gives a
// function (AWS_REGION and the execution role's AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN), so a Lambda's init does no
// network I/O and links none of the SDK's shared-config machinery.
package sqsqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/awsenv"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
)

// Backend sends, receives and counts job messages on SQS. It implements
// queue.Backend and queue.Receiver; it is safe for concurrent use.
type Backend struct {
	urls   map[string]string
	client func() (*sqs.Client, error)

	mu   sync.Mutex
	dlqs map[string]string // job type -> dead-letter queue URL
}

// New returns the backend for the queues urls (job type -> queue URL),
// reached through the client that client returns. client is called at
// every use; wrap a costly constructor in sync.OnceValues.
func New(urls map[string]string, client func() (*sqs.Client, error)) *Backend {
	return &Backend{urls: urls, client: client, dlqs: map[string]string{}}
}

// FromEnv returns the backend for the queues urls, with a client built at
// first use from the environment (see the package doc). The region is
// AWS_REGION, else that of the queue URLs; AWS_ENDPOINT_URL_SQS or
// AWS_ENDPOINT_URL, when set, replace the endpoint (a local emulator).
func FromEnv(urls map[string]string) *Backend {
	return New(urls, sync.OnceValues(func() (*sqs.Client, error) { return envClient(urls) }))
}

func envClient(urls map[string]string) (*sqs.Client, error) {
	region := awsenv.Region()
	if region == "" {
		for _, u := range urls {
			if region = regionOf(u); region != "" {
				break
			}
		}
	}
	if region == "" {
		return nil, errors.New("sqs: no region: set AWS_REGION")
	}
	return sqs.New(sqs.Options{
		Region:           region,
		Credentials:      awsenv.Credentials(),
		RetryMaxAttempts: 3,
		BaseEndpoint:     awsenv.Endpoint("SQS"),
	}), nil
}

// regionOf reads the region of https://sqs.<region>.amazonaws.com/...
func regionOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	parts := strings.Split(u.Hostname(), ".")
	if len(parts) >= 4 && parts[0] == "sqs" && parts[2] == "amazonaws" {
		return parts[1]
	}
	return ""
}

func (b *Backend) queue(kind string) (*sqs.Client, string, error) {
	u, ok := b.urls[kind]
	if !ok || u == "" {
		return nil, "", fmt.Errorf("sqs: no queue URL for job type %q", kind)
	}
	c, err := b.client()
	if err != nil {
		return nil, "", err
	}
	return c, u, nil
}

// maxBatch is the most entries one SQS batch call takes.
const maxBatch = 10

// Send implements queue.Backend: batches of ten, each message with the
// job's id and kind as message attributes.
func (b *Backend) Send(ctx context.Context, kind string, msgs []queue.Message) ([]uuid.UUID, error) {
	c, u, err := b.queue(kind)
	if err != nil {
		return nil, err
	}
	var sent []uuid.UUID
	var failures []error
	for start := 0; start < len(msgs); start += maxBatch {
		chunk := msgs[start:min(start+maxBatch, len(msgs))]
		entries := make([]types.SendMessageBatchRequestEntry, len(chunk))
		for i, m := range chunk {
			entries[i] = types.SendMessageBatchRequestEntry{
				Id:           aws.String(strconv.Itoa(i)),
				MessageBody:  aws.String(string(m.Body)),
				DelaySeconds: int32(min(max(m.Delay, 0), queue.MaxDelay) / time.Second),
				MessageAttributes: map[string]types.MessageAttributeValue{
					queue.AttrJobID: {DataType: aws.String("String"), StringValue: aws.String(m.JobID.String())},
					queue.AttrKind:  {DataType: aws.String("String"), StringValue: aws.String(m.Kind)},
				},
			}
		}
		out, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &u, Entries: entries})
		if err != nil {
			failures = append(failures, err)
			continue
		}
		for _, ok := range out.Successful {
			if i, err := strconv.Atoi(aws.ToString(ok.Id)); err == nil && i < len(chunk) {
				sent = append(sent, chunk[i].JobID)
			}
		}
		for _, f := range out.Failed {
			failures = append(failures, fmt.Errorf("message %s: %s: %s", aws.ToString(f.Id), aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	if len(failures) > 0 {
		return sent, fmt.Errorf("sqs send to %s: %w", kind, errors.Join(failures...))
	}
	return sent, nil
}

// ChangeVisibility implements queue.Backend.
func (b *Backend) ChangeVisibility(ctx context.Context, kind, receipt string, d time.Duration) error {
	c, u, err := b.queue(kind)
	if err != nil {
		return err
	}
	secs := int32(min(max(d, 0), queue.MaxVisibility) / time.Second)
	_, err = c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: &u, ReceiptHandle: &receipt, VisibilityTimeout: secs,
	})
	if err != nil {
		return fmt.Errorf("sqs change visibility on %s: %w", kind, err)
	}
	return nil
}

// Depth implements queue.Backend. The dead-letter queue is the one the
// queue's redrive policy names; it is looked up once.
func (b *Backend) Depth(ctx context.Context, kind string) (queue.Depth, error) {
	c, u, err := b.queue(kind)
	if err != nil {
		return queue.Depth{}, err
	}
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: &u,
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
			types.QueueAttributeNameRedrivePolicy,
		},
	})
	if err != nil {
		return queue.Depth{}, fmt.Errorf("sqs depth of %s: %w", kind, err)
	}
	a := out.Attributes
	d := queue.Depth{
		Queued:   atoi(a[string(types.QueueAttributeNameApproximateNumberOfMessages)]),
		InFlight: atoi(a[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)]),
		Delayed:  atoi(a[string(types.QueueAttributeNameApproximateNumberOfMessagesDelayed)]),
	}
	dlq, err := b.deadLetterURL(kind, u, a[string(types.QueueAttributeNameRedrivePolicy)])
	if err != nil || dlq == "" {
		return d, err
	}
	out, err = c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       &dlq,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		return d, fmt.Errorf("sqs depth of %s dead-letter queue: %w", kind, err)
	}
	d.DeadLetters = atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	return d, nil
}

// deadLetterURL is the URL of the dead-letter queue a redrive policy
// names. SQS keeps a dead-letter queue in its source queue's account and
// region, so its URL is the source's with the name replaced: no call, and
// no permission beyond reading the queues' attributes.
func (b *Backend) deadLetterURL(kind, queueURL, policy string) (string, error) {
	b.mu.Lock()
	u, ok := b.dlqs[kind]
	b.mu.Unlock()
	if ok || policy == "" {
		return u, nil
	}
	var p struct {
		Target string `json:"deadLetterTargetArn"`
	}
	if err := json.Unmarshal([]byte(policy), &p); err != nil || p.Target == "" {
		return "", fmt.Errorf("sqs: redrive policy of %s: %q", kind, policy)
	}
	// arn:aws:sqs:<region>:<account>:<name>
	parts := strings.Split(p.Target, ":")
	src, err := url.Parse(queueURL)
	if len(parts) != 6 || parts[5] == "" || err != nil {
		return "", fmt.Errorf("sqs: dead-letter queue of %s: %q", kind, p.Target)
	}
	src.Path = path.Join(path.Dir(src.Path), parts[5])
	u = src.String()
	b.mu.Lock()
	b.dlqs[kind] = u
	b.mu.Unlock()
	return u, nil
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// Receive implements queue.Receiver, long polling up to 20 seconds.
func (b *Backend) Receive(ctx context.Context, kind string, limit int, wait time.Duration) ([]queue.Delivery, error) {
	c, u, err := b.queue(kind)
	if err != nil {
		return nil, err
	}
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            &u,
		MaxNumberOfMessages: int32(min(max(limit, 1), maxBatch)),
		WaitTimeSeconds:     int32(min(max(wait, 0), 20*time.Second) / time.Second),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameApproximateReceiveCount,
			types.MessageSystemAttributeNameSentTimestamp,
			types.MessageSystemAttributeNameApproximateFirstReceiveTimestamp,
		},
		MessageAttributeNames: []string{queue.AttrJobID, queue.AttrKind},
	})
	if err != nil {
		return nil, fmt.Errorf("sqs receive from %s: %w", kind, err)
	}
	ds := make([]queue.Delivery, len(out.Messages))
	for i, m := range out.Messages {
		ds[i] = queue.Delivery{
			MessageID:       aws.ToString(m.MessageId),
			ReceiptHandle:   aws.ToString(m.ReceiptHandle),
			Body:            aws.ToString(m.Body),
			JobID:           aws.ToString(m.MessageAttributes[queue.AttrJobID].StringValue),
			Kind:            aws.ToString(m.MessageAttributes[queue.AttrKind].StringValue),
			ReceiveCount:    atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]),
			SentAt:          fromMillis(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)]),
			FirstReceivedAt: fromMillis(m.Attributes[string(types.MessageSystemAttributeNameApproximateFirstReceiveTimestamp)]),
		}
	}
	return ds, nil
}

func fromMillis(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(n)
}

// Delete implements queue.Receiver.
func (b *Backend) Delete(ctx context.Context, kind string, receipts []string) error {
	c, u, err := b.queue(kind)
	if err != nil {
		return err
	}
	var failures []error
	for start := 0; start < len(receipts); start += maxBatch {
		chunk := receipts[start:min(start+maxBatch, len(receipts))]
		entries := make([]types.DeleteMessageBatchRequestEntry, len(chunk))
		for i, r := range chunk {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(r)}
		}
		out, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &u, Entries: entries})
		if err != nil {
			failures = append(failures, err)
			continue
		}
		for _, f := range out.Failed {
			failures = append(failures, fmt.Errorf("%s: %s", aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	if len(failures) > 0 {
		return fmt.Errorf("sqs delete from %s: %w", kind, errors.Join(failures...))
	}
	return nil
}

// FromConfig returns the SQS backend of the queue URLs in cfg, or nil when
// there are none (development and tests, where the local server passes
// its in-memory queue instead): a queue without a backend leaves jobs in
// the outbox.
func FromConfig(cfg *config.Config) queue.Backend {
	if len(cfg.QueueURLs) == 0 {
		return nil
	}
	return FromEnv(cfg.QueueURLs)
}

// For is the job queue's transport for app's function: the one its process
// provides (the local server's), else SQS as app's configuration says;
// nil without queue URLs.
func For(app *platform.App) queue.Backend {
	if app.Backend != nil {
		return app.Backend
	}
	return FromConfig(app.Config)
}

// Queue is the job queue of app's function, on For(app).
func Queue(app *platform.App) *queue.Queue {
	return queue.New(app.DB, For(app), app.Log)
}
