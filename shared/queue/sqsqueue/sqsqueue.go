// Package sqsqueue is the Amazon SQS backend of the job queue: one
// standard queue per job type, whose redrive policy names its dead-letter
// queue.
//
// SQS is called through shared/awsjson, one SigV4-signed POST of its JSON
// protocol (awsJson1_0, X-Amz-Target AmazonSQS.<Operation>) per call,
// rather than through the SDK's generated client: the generated client's
// schema and endpoint packages cost each cold start of a function that
// sends, consumes or counts jobs about 0.7 ms of package initialisation
// (0.4 ms for its schemas, 0.3 ms for its endpoints) for the five
// operations used here. As the SDK does, the MD5 digests SQS returns of
// the bodies sent and received are checked.
//
// The backend reads its settings from the environment Lambda gives a
// function (AWS_REGION and the execution role's AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN) at each call, so a Lambda's
// init does no network I/O.
package sqsqueue

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/awsenv"
	"github.com/personalcrm/core/shared/awsjson"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
)

// Backend sends, receives and counts job messages on SQS. It implements
// queue.Backend and queue.Receiver; it is safe for concurrent use.
type Backend struct {
	urls   map[string]string
	region string
	client *awsjson.Client

	mu   sync.Mutex
	dlqs map[string]string // job type -> dead-letter queue URL
}

// Options say how a Backend reaches SQS. The zero value is the Lambda
// environment's, read at each call.
type Options struct {
	// Region is the queues' region; empty means AWS_REGION, else that of
	// the queue URLs.
	Region string
	// Endpoint is SQS's base URL; empty means AWS_ENDPOINT_URL_SQS, else
	// AWS_ENDPOINT_URL, else the region's endpoint.
	Endpoint string
	// Credentials sign the calls; nil means the environment's.
	Credentials aws.CredentialsProvider
	// HTTP sends the calls; nil means http.DefaultClient.
	HTTP *http.Client
}

// New returns the backend for the queues urls (job type -> queue URL),
// reached as o says. It does no I/O.
func New(urls map[string]string, o Options) *Backend {
	endpoint := awsjson.EnvEndpoint("SQS", "sqs")
	if o.Endpoint != "" {
		endpoint = func(string) string { return o.Endpoint }
	}
	return &Backend{
		urls:   urls,
		region: o.Region,
		client: &awsjson.Client{
			Service:         "sqs",
			Version:         "1.0",
			TargetPrefix:    "AmazonSQS",
			QueryCompatible: true,
			Endpoint:        endpoint,
			Credentials:     o.Credentials,
			HTTP:            o.HTTP,
		},
		dlqs: map[string]string{},
	}
}

// FromEnv returns the backend for the queues urls, configured from the
// environment (see the package doc). The region is AWS_REGION, else that
// of the queue URLs; AWS_ENDPOINT_URL_SQS or AWS_ENDPOINT_URL, when set,
// replace the endpoint (a local emulator).
func FromEnv(urls map[string]string) *Backend { return New(urls, Options{}) }

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

// queue returns the URL of kind's queue and the region to call.
func (b *Backend) queue(kind string) (string, string, error) {
	u, ok := b.urls[kind]
	if !ok || u == "" {
		return "", "", fmt.Errorf("sqs: no queue URL for job type %q", kind)
	}
	region := b.region
	if region == "" {
		region = awsenv.Region()
	}
	if region == "" {
		region = regionOf(u)
	}
	for _, other := range b.urls {
		if region != "" {
			break
		}
		region = regionOf(other)
	}
	if region == "" {
		return "", "", errors.New("sqs: no region: set AWS_REGION")
	}
	return u, region, nil
}

// maxBatch is the most entries one SQS batch call takes.
const maxBatch = 10

// messageAttribute is a string message attribute.
type messageAttribute struct {
	DataType    string
	StringValue string
}

type sendMessageBatchEntry struct {
	Id                string
	MessageBody       string
	DelaySeconds      int32 `json:",omitempty"`
	MessageAttributes map[string]messageAttribute
}

type sendMessageBatchInput struct {
	QueueUrl string
	Entries  []sendMessageBatchEntry
}

// batchResult is the answer of SendMessageBatch and DeleteMessageBatch.
type batchResult struct {
	Successful []struct {
		Id               string
		MessageId        string
		MD5OfMessageBody string
	}
	Failed []struct {
		Id          string
		Code        string
		Message     string
		SenderFault bool
	}
}

// Send implements queue.Backend: batches of ten, each message with the
// job's id and kind as message attributes.
func (b *Backend) Send(ctx context.Context, kind string, msgs []queue.Message) ([]uuid.UUID, error) {
	u, region, err := b.queue(kind)
	if err != nil {
		return nil, err
	}
	var sent []uuid.UUID
	var failures []error
	for start := 0; start < len(msgs); start += maxBatch {
		chunk := msgs[start:min(start+maxBatch, len(msgs))]
		in := sendMessageBatchInput{QueueUrl: u, Entries: make([]sendMessageBatchEntry, len(chunk))}
		for i, m := range chunk {
			in.Entries[i] = sendMessageBatchEntry{
				Id:           strconv.Itoa(i),
				MessageBody:  string(m.Body),
				DelaySeconds: int32(min(max(m.Delay, 0), queue.MaxDelay) / time.Second),
				MessageAttributes: map[string]messageAttribute{
					queue.AttrJobID: {DataType: "String", StringValue: m.JobID.String()},
					queue.AttrKind:  {DataType: "String", StringValue: m.Kind},
				},
			}
		}
		var out batchResult
		if err := b.client.Call(ctx, region, "SendMessageBatch", in, &out); err != nil {
			failures = append(failures, err)
			continue
		}
		if err := checkSent(in.Entries, out); err != nil {
			failures = append(failures, err)
			continue
		}
		for _, ok := range out.Successful {
			if i, err := strconv.Atoi(ok.Id); err == nil && i >= 0 && i < len(chunk) {
				sent = append(sent, chunk[i].JobID)
			}
		}
		for _, f := range out.Failed {
			failures = append(failures, fmt.Errorf("message %s: %s: %s", f.Id, f.Code, f.Message))
		}
	}
	if len(failures) > 0 {
		return sent, fmt.Errorf("sqs send to %s: %w", kind, errors.Join(failures...))
	}
	return sent, nil
}

// checkSent compares the MD5 digest SQS returns of each body it took with
// the body sent, as the SDK does: a mismatch fails the whole batch.
func checkSent(entries []sendMessageBatchEntry, out batchResult) error {
	bodies := make(map[string]string, len(entries))
	for _, e := range entries {
		bodies[e.Id] = e.MessageBody
	}
	var bad []error
	for _, ok := range out.Successful {
		body, known := bodies[ok.Id]
		if known && ok.MD5OfMessageBody != "" && md5Hex(body) != ok.MD5OfMessageBody {
			bad = append(bad, fmt.Errorf("message %s: MD5 of the body sent %s, SQS took %s", ok.MessageId, md5Hex(body), ok.MD5OfMessageBody))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("SendMessageBatch: checksum: %w", errors.Join(bad...))
	}
	return nil
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// ChangeVisibility implements queue.Backend.
func (b *Backend) ChangeVisibility(ctx context.Context, kind, receipt string, d time.Duration) error {
	u, region, err := b.queue(kind)
	if err != nil {
		return err
	}
	in := struct {
		QueueUrl          string
		ReceiptHandle     string
		VisibilityTimeout int32
	}{u, receipt, int32(min(max(d, 0), queue.MaxVisibility) / time.Second)}
	if err := b.client.Call(ctx, region, "ChangeMessageVisibility", in, nil); err != nil {
		return fmt.Errorf("sqs change visibility on %s: %w", kind, err)
	}
	return nil
}

// SQS queue attributes read by Depth.
const (
	attrMessages         = "ApproximateNumberOfMessages"
	attrMessagesInFlight = "ApproximateNumberOfMessagesNotVisible"
	attrMessagesDelayed  = "ApproximateNumberOfMessagesDelayed"
	attrRedrivePolicy    = "RedrivePolicy"
)

// attributes returns the attributes names of the queue u.
func (b *Backend) attributes(ctx context.Context, region, u string, names ...string) (map[string]string, error) {
	in := struct {
		QueueUrl       string
		AttributeNames []string
	}{u, names}
	var out struct{ Attributes map[string]string }
	err := b.client.Call(ctx, region, "GetQueueAttributes", in, &out)
	return out.Attributes, err
}

// Depth implements queue.Backend. The dead-letter queue is the one the
// queue's redrive policy names; it is looked up once.
func (b *Backend) Depth(ctx context.Context, kind string) (queue.Depth, error) {
	u, region, err := b.queue(kind)
	if err != nil {
		return queue.Depth{}, err
	}
	a, err := b.attributes(ctx, region, u, attrMessages, attrMessagesInFlight, attrMessagesDelayed, attrRedrivePolicy)
	if err != nil {
		return queue.Depth{}, fmt.Errorf("sqs depth of %s: %w", kind, err)
	}
	d := queue.Depth{
		Queued:   atoi(a[attrMessages]),
		InFlight: atoi(a[attrMessagesInFlight]),
		Delayed:  atoi(a[attrMessagesDelayed]),
	}
	dlq, err := b.deadLetterURL(kind, u, a[attrRedrivePolicy])
	if err != nil || dlq == "" {
		return d, err
	}
	a, err = b.attributes(ctx, region, dlq, attrMessages)
	if err != nil {
		return d, fmt.Errorf("sqs depth of %s dead-letter queue: %w", kind, err)
	}
	d.DeadLetters = atoi(a[attrMessages])
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

// SQS message system attributes read by Receive.
const (
	attrReceiveCount      = "ApproximateReceiveCount"
	attrSentTimestamp     = "SentTimestamp"
	attrFirstReceiveStamp = "ApproximateFirstReceiveTimestamp"
)

type receiveMessageInput struct {
	QueueUrl                    string
	MaxNumberOfMessages         int32 `json:",omitempty"`
	WaitTimeSeconds             int32 `json:",omitempty"`
	MessageSystemAttributeNames []string
	MessageAttributeNames       []string
}

type receiveMessageOutput struct {
	Messages []struct {
		MessageId         string
		ReceiptHandle     string
		MD5OfBody         string
		Body              string
		Attributes        map[string]string
		MessageAttributes map[string]messageAttribute
	}
}

// Receive implements queue.Receiver, long polling up to 20 seconds.
func (b *Backend) Receive(ctx context.Context, kind string, limit int, wait time.Duration) ([]queue.Delivery, error) {
	u, region, err := b.queue(kind)
	if err != nil {
		return nil, err
	}
	in := receiveMessageInput{
		QueueUrl:                    u,
		MaxNumberOfMessages:         int32(min(max(limit, 1), maxBatch)),
		WaitTimeSeconds:             int32(min(max(wait, 0), 20*time.Second) / time.Second),
		MessageSystemAttributeNames: []string{attrReceiveCount, attrSentTimestamp, attrFirstReceiveStamp},
		MessageAttributeNames:       []string{queue.AttrJobID, queue.AttrKind},
	}
	var out receiveMessageOutput
	if err := b.client.Call(ctx, region, "ReceiveMessage", in, &out); err != nil {
		return nil, fmt.Errorf("sqs receive from %s: %w", kind, err)
	}
	var bad []error
	for _, m := range out.Messages {
		if m.MD5OfBody != "" && md5Hex(m.Body) != m.MD5OfBody {
			bad = append(bad, fmt.Errorf("message %s: MD5 of the body received %s, SQS sent %s", m.MessageId, md5Hex(m.Body), m.MD5OfBody))
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("sqs receive from %s: ReceiveMessage: checksum: %w", kind, errors.Join(bad...))
	}
	ds := make([]queue.Delivery, len(out.Messages))
	for i, m := range out.Messages {
		ds[i] = queue.Delivery{
			MessageID:       m.MessageId,
			ReceiptHandle:   m.ReceiptHandle,
			Body:            m.Body,
			JobID:           m.MessageAttributes[queue.AttrJobID].StringValue,
			Kind:            m.MessageAttributes[queue.AttrKind].StringValue,
			ReceiveCount:    atoi(m.Attributes[attrReceiveCount]),
			SentAt:          fromMillis(m.Attributes[attrSentTimestamp]),
			FirstReceivedAt: fromMillis(m.Attributes[attrFirstReceiveStamp]),
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

type deleteMessageBatchEntry struct {
	Id            string
	ReceiptHandle string
}

// Delete implements queue.Receiver.
func (b *Backend) Delete(ctx context.Context, kind string, receipts []string) error {
	u, region, err := b.queue(kind)
	if err != nil {
		return err
	}
	var failures []error
	for start := 0; start < len(receipts); start += maxBatch {
		chunk := receipts[start:min(start+maxBatch, len(receipts))]
		in := struct {
			QueueUrl string
			Entries  []deleteMessageBatchEntry
		}{u, make([]deleteMessageBatchEntry, len(chunk))}
		for i, r := range chunk {
			in.Entries[i] = deleteMessageBatchEntry{Id: strconv.Itoa(i), ReceiptHandle: r}
		}
		var out batchResult
		if err := b.client.Call(ctx, region, "DeleteMessageBatch", in, &out); err != nil {
			failures = append(failures, err)
			continue
		}
		for _, f := range out.Failed {
			failures = append(failures, fmt.Errorf("%s: %s", f.Code, f.Message))
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
