package awsjson_test

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

	"github.com/personalcrm/core/shared/awsjson"
	"github.com/personalcrm/core/shared/internal/awstest"
	"github.com/personalcrm/core/shared/testkit"
)

// answer is what the fake service sends for one request.
type answer struct {
	status  int
	headers map[string]string
	body    string
	// hangUp closes the connection without an answer.
	hangUp bool
}

// fakeService checks each request as a JSON protocol service would and
// answers from its script, then echoes the input's Value as Echo.
type fakeService struct {
	t *testing.T

	mu      sync.Mutex
	script  []answer
	calls   int
	targets []string
	query   []string
}

func (f *fakeService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("body: %v", err)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		f.t.Errorf("%s %s, want POST /", r.Method, r.URL.Path)
	}
	if got := r.Header.Get("Content-Type"); got != "application/x-amz-json-1.0" {
		f.t.Errorf("Content-Type %q", got)
	}
	awstest.VerifySignature(f.t, r, body, awstest.Creds, "sqs", "eu-west-1")
	f.mu.Lock()
	f.calls++
	f.targets = append(f.targets, r.Header.Get("X-Amz-Target"))
	f.query = append(f.query, r.Header.Get("X-Amzn-Query-Mode"))
	var a answer
	if len(f.script) > 0 {
		a, f.script = f.script[0], f.script[1:]
	}
	f.mu.Unlock()
	if a.hangUp {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			f.t.Fatal(err)
		}
		conn.Close()
		return
	}
	for k, v := range a.headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	if a.status != 0 {
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
		return
	}
	var in struct{ Value string }
	if err := json.Unmarshal(body, &in); err != nil {
		f.t.Errorf("input %q: %v", body, err)
	}
	json.NewEncoder(w).Encode(map[string]string{"Echo": in.Value})
}

// newClient returns a client of the fake and the waits it was asked for.
func newClient(t *testing.T, script ...answer) (*awsjson.Client, *fakeService, *[]int) {
	f := &fakeService{t: t, script: script}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	awstest.Env(t, "eu-west-1")
	var waits []int
	c := &awsjson.Client{
		Service:         "sqs",
		Version:         "1.0",
		TargetPrefix:    "AmazonSQS",
		QueryCompatible: true,
		Endpoint:        func(string) string { return srv.URL },
		Backoff: func(n int) time.Duration {
			waits = append(waits, n)
			return 0
		},
	}
	return c, f, &waits
}

func TestCallSignsAndDecodes(t *testing.T) {
	c, f, _ := newClient(t)
	var out struct{ Echo string }
	if err := c.Call(context.Background(), "eu-west-1", "GetQueueAttributes", struct{ Value string }{"hello"}, &out); err != nil {
		t.Fatal(err)
	}
	if out.Echo != "hello" {
		t.Errorf("decoded %q, want hello", out.Echo)
	}
	if f.targets[0] != "AmazonSQS.GetQueueAttributes" {
		t.Errorf("X-Amz-Target %q", f.targets[0])
	}
	if f.query[0] != "true" {
		t.Errorf("X-Amzn-Query-Mode %q, want true", f.query[0])
	}
}

func TestRetriesThrottlingServerAndTransportErrors(t *testing.T) {
	c, f, waits := newClient(t,
		answer{status: 400, body: `{"__type":"com.amazonaws.sqs#RequestThrottled","message":"slow down"}`},
		answer{hangUp: true},
	)
	c.Attempts = 4
	f.script = append(f.script, answer{status: 503, body: `{}`})
	var out struct{ Echo string }
	if err := c.Call(context.Background(), "eu-west-1", "ReceiveMessage", struct{ Value string }{"x"}, &out); err != nil {
		t.Fatal(err)
	}
	if out.Echo != "x" || f.calls != 4 {
		t.Fatalf("echo %q after %d calls, want x after 4", out.Echo, f.calls)
	}
	if len(*waits) != 3 || (*waits)[0] != 1 || (*waits)[2] != 3 {
		t.Errorf("waited before attempts %v, want after 1, 2 and 3", *waits)
	}
}

func TestGivesUpAfterAttempts(t *testing.T) {
	throttled := answer{status: 400, headers: map[string]string{"X-Amzn-ErrorType": "ThrottlingException:http://internal.amazon.com/"}, body: `{"message":"Rate exceeded"}`}
	c, f, _ := newClient(t, throttled, throttled, throttled, throttled)
	err := c.Call(context.Background(), "eu-west-1", "SendMessageBatch", nil, nil)
	var e *awsjson.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want an *awsjson.Error", err)
	}
	if e.Code != "ThrottlingException" || e.Message != "Rate exceeded" || e.Operation != "SendMessageBatch" {
		t.Errorf("error %+v", e)
	}
	if f.calls != awsjson.Attempts {
		t.Errorf("%d calls, want %d", f.calls, awsjson.Attempts)
	}
}

// A client's error is final, and its code, query code, status, message and
// request id reach the caller.
func TestClientErrorSurfaced(t *testing.T) {
	c, f, _ := newClient(t, answer{
		status: 400,
		headers: map[string]string{
			"X-Amzn-Query-Error": "AWS.SimpleQueueService.NonExistentQueue;Sender",
			"X-Amzn-Requestid":   "req-7",
		},
		body: `{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}`,
	})
	err := c.Call(context.Background(), "eu-west-1", "GetQueueAttributes", nil, nil)
	var e *awsjson.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want an *awsjson.Error", err)
	}
	want := awsjson.Error{
		Operation: "GetQueueAttributes", Status: 400, Code: "QueueDoesNotExist",
		QueryCode: "AWS.SimpleQueueService.NonExistentQueue", Message: "The specified queue does not exist.", RequestID: "req-7",
	}
	if *e != want {
		t.Errorf("error %+v\nwant %+v", *e, want)
	}
	for _, s := range []string{"GetQueueAttributes", "QueueDoesNotExist", "does not exist", "HTTP 400", "req-7"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%q does not name %q", err, s)
		}
	}
	if f.calls != 1 {
		t.Errorf("%d calls, want 1", f.calls)
	}
}

// An answer that is not JSON leaves its status as the code; a 5xx is
// retried.
func TestErrorWithoutBody(t *testing.T) {
	c, f, _ := newClient(t, answer{status: 502, body: "<html>bad gateway</html>"}, answer{status: 502}, answer{status: 502})
	err := c.Call(context.Background(), "eu-west-1", "DeleteMessageBatch", nil, nil)
	var e *awsjson.Error
	if !errors.As(err, &e) || e.Code != "Bad Gateway" || e.Status != 502 {
		t.Fatalf("err = %v, want the status as the code", err)
	}
	if f.calls != awsjson.Attempts {
		t.Errorf("%d calls, want %d", f.calls, awsjson.Attempts)
	}
}

// Without credentials nothing is sent.
func TestNoCredentials(t *testing.T) {
	c, f, _ := newClient(t)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	if err := c.Call(context.Background(), "eu-west-1", "ReceiveMessage", nil, nil); err == nil {
		t.Fatal("called without credentials")
	}
	if err := c.Call(context.Background(), "", "ReceiveMessage", nil, nil); err == nil {
		t.Fatal("called without a region")
	}
	if f.calls != 0 {
		t.Fatalf("%d calls", f.calls)
	}
}

func TestEnvEndpoint(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_SQS", "")
	e := awsjson.EnvEndpoint("SQS", "sqs")
	for region, want := range map[string]string{
		"eu-west-1":  "https://sqs.eu-west-1.amazonaws.com",
		"cn-north-1": "https://sqs.cn-north-1.amazonaws.com.cn",
	} {
		if got := e(region); got != want {
			t.Errorf("endpoint in %s = %q, want %q", region, got, want)
		}
	}
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
	if got := e("eu-west-1"); got != "http://127.0.0.1:4566" {
		t.Errorf("global override: %q", got)
	}
	t.Setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9324")
	if got := e("eu-west-1"); got != "http://127.0.0.1:9324" {
		t.Errorf("service override: %q", got)
	}
}

func TestBackoffWithinCeiling(t *testing.T) {
	for n, ceiling := range map[int]time.Duration{1: 50 * time.Millisecond, 2: 100 * time.Millisecond, 20: 20 * time.Second} {
		for range 100 {
			if d := awsjson.Backoff(n); d < 0 || d > ceiling {
				t.Fatalf("Backoff(%d) = %v, want within [0, %v]", n, d, ceiling)
			}
		}
	}
}

// TestNoInit: the package builds nothing at init, so linking it costs a
// cold start nothing before the first call.
func TestNoInit(t *testing.T) {
	const pkg = "github.com/personalcrm/core/shared/awsjson"
	if n := testkit.InitBytes(t, pkg); n > 0 {
		t.Errorf("%s allocates %d bytes at init", pkg, n)
	}
}
