package sqsqueue

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/awsjson"
	"github.com/personalcrm/core/shared/internal/awstest"
	"github.com/personalcrm/core/shared/queue"
)

// fakeSQS speaks SQS's JSON protocol for SendMessageBatch and
// ReceiveMessage, checking each request's headers and signature. Its
// answers are scripted by the test.
type fakeSQS struct {
	t *testing.T

	mu sync.Mutex
	// throttle answers that many requests with RequestThrottled first.
	throttle int
	// fail names the entries of a batch answered as failed.
	fail map[string]bool
	// badDigest answers a wrong MD5 of each body.
	badDigest bool
	calls     int
	entries   []sendMessageBatchEntry
}

func (f *fakeSQS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("body: %v", err)
	}
	if got := r.Header.Get("Content-Type"); got != "application/x-amz-json-1.0" {
		f.t.Errorf("Content-Type %q", got)
	}
	if got := r.Header.Get("X-Amz-Target"); got != "AmazonSQS.SendMessageBatch" {
		f.t.Errorf("X-Amz-Target %q", got)
	}
	awstest.VerifySignature(f.t, r, body, awstest.Creds, "sqs", "eu-west-1")
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")

	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.throttle > 0 {
		f.throttle--
		w.Header().Set("X-Amzn-Query-Error", "RequestThrottled;Sender")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"__type":"com.amazonaws.sqs#RequestThrottled","message":"Rate exceeded"}`)
		return
	}
	var in sendMessageBatchInput
	if err := json.Unmarshal(body, &in); err != nil {
		f.t.Fatalf("input %s: %v", body, err)
	}
	if in.QueueUrl != "https://sqs.eu-west-1.amazonaws.com/123456789012/crm-prod-enrichment" {
		f.t.Errorf("QueueUrl %q", in.QueueUrl)
	}
	f.entries = append(f.entries, in.Entries...)
	out := map[string][]map[string]any{"Successful": {}, "Failed": {}}
	for _, e := range in.Entries {
		if f.fail[e.MessageBody] {
			out["Failed"] = append(out["Failed"], map[string]any{
				"Id": e.Id, "Code": "InvalidMessageContents", "Message": "Invalid characters", "SenderFault": true,
			})
			continue
		}
		digest := md5Hex(e.MessageBody)
		if f.badDigest {
			digest = md5Hex(e.MessageBody + "!")
		}
		out["Successful"] = append(out["Successful"], map[string]any{
			"Id": e.Id, "MessageId": uuid.NewString(), "MD5OfMessageBody": digest,
		})
	}
	json.NewEncoder(w).Encode(out)
}

func fakeBackend(t *testing.T, f *fakeSQS) *Backend {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	awstest.Env(t, "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_SQS", srv.URL)
	b := FromEnv(map[string]string{"enrichment": "https://sqs.eu-west-1.amazonaws.com/123456789012/crm-prod-enrichment"})
	b.client.Backoff = func(int) time.Duration { return 0 }
	return b
}

func messages(n int) []queue.Message {
	ms := make([]queue.Message, n)
	for i := range ms {
		ms[i] = queue.Message{JobID: uuid.New(), Kind: "enrichment", Body: []byte(`{"n":` + string(rune('a'+i)) + `}`)}
	}
	ms[0].Delay = 90 * time.Second
	return ms
}

// Twelve messages go in two batches, the region comes from the queue URL,
// and each entry carries its job's id and kind; an entry SQS refuses is
// reported while the others count as sent, and a throttled batch is sent
// again.
func TestSendReportsFailedEntriesAndRetriesThrottling(t *testing.T) {
	ms := messages(12)
	f := &fakeSQS{t: t, throttle: 1, fail: map[string]bool{string(ms[3].Body): true}}
	b := fakeBackend(t, f)

	sent, err := b.Send(context.Background(), "enrichment", ms)
	if err == nil || !strings.Contains(err.Error(), "InvalidMessageContents") || !strings.Contains(err.Error(), "message 3") {
		t.Fatalf("err = %v, want the refused entry named", err)
	}
	if len(sent) != 11 {
		t.Fatalf("%d sent, want 11", len(sent))
	}
	for _, id := range sent {
		if id == ms[3].JobID {
			t.Fatalf("the refused job %s counted as sent", id)
		}
	}
	if f.calls != 3 {
		t.Errorf("%d calls, want 3 (one throttled)", f.calls)
	}
	if len(f.entries) != 12 {
		t.Fatalf("%d entries reached SQS, want 12", len(f.entries))
	}
	e := f.entries[0]
	if e.DelaySeconds != 90 || e.MessageBody != string(ms[0].Body) ||
		e.MessageAttributes[queue.AttrJobID] != (messageAttribute{"String", ms[0].JobID.String()}) ||
		e.MessageAttributes[queue.AttrKind] != (messageAttribute{"String", "enrichment"}) {
		t.Errorf("first entry %+v", e)
	}
}

// Throttled past the attempts, the error carries SQS's code.
func TestSendThrottledOut(t *testing.T) {
	f := &fakeSQS{t: t, throttle: 10}
	b := fakeBackend(t, f)
	sent, err := b.Send(context.Background(), "enrichment", messages(2))
	var e *awsjson.Error
	if !errors.As(err, &e) || e.Code != "RequestThrottled" || e.QueryCode != "RequestThrottled" {
		t.Fatalf("err = %v, want RequestThrottled", err)
	}
	if len(sent) != 0 || f.calls != awsjson.Attempts {
		t.Errorf("%d sent after %d calls, want none after %d", len(sent), f.calls, awsjson.Attempts)
	}
}

// A digest that does not match the body sent fails the batch, as the SDK's
// checksum validation does.
func TestSendChecksBodyDigests(t *testing.T) {
	f := &fakeSQS{t: t, badDigest: true}
	b := fakeBackend(t, f)
	sent, err := b.Send(context.Background(), "enrichment", messages(2))
	if err == nil || !strings.Contains(err.Error(), "MD5") {
		t.Fatalf("err = %v, want a checksum failure", err)
	}
	if len(sent) != 0 {
		t.Errorf("%d sent with wrong digests", len(sent))
	}
}
