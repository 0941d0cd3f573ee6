package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/monitor"
	"github.com/personalcrm/core/shared/testkit"
)

// fakeSessions accepts one token.
type fakeSessions struct{ token string }

func (f fakeSessions) Resolve(_ context.Context, token string) (auth.Principal, error) {
	if token == f.token {
		return auth.Principal{UserID: uuid.MustParse("0192a000-0000-7000-8000-000000000001")}, nil
	}
	return auth.Principal{}, errs.Unauthenticated("Authentication required")
}

type idInput struct {
	ID   uuid.UUID `path:"id"`
	Mode string    `query:"mode"`
}

type idOutput struct {
	SetCookie []string `header:"Set-Cookie"`
	Body      struct {
		User string `json:"user"`
	}
}

const secretText = "password=hunter2 at 10.0.0.7"

// server serves GET /v1/contacts/{id} with a handler whose behaviour the
// query parameter mode picks.
func server(t *testing.T) (*api.Server, *testkit.Buffer, *testkit.Buffer) {
	logs, metrics := &testkit.Buffer{}, &testkit.Buffer{}
	log := logging.New(logs, nil)
	h := func(ctx context.Context, in *idInput) (*idOutput, error) {
		switch in.Mode {
		case "internal":
			return nil, fmt.Errorf("query contact: %w", errors.New(secretText))
		case "panic":
			panic("handler bug: " + secretText)
		case "limited":
			return nil, errs.RateLimit(1500 * time.Millisecond)
		case "unavailable":
			return nil, errs.Unavailable("database", errors.New(secretText))
		case "restarting":
			e := errs.Unavailable("database", errors.New(secretText))
			e.RetryAfter = 2 * time.Second
			return nil, e
		case "forbidden":
			return nil, errs.Forbidden("Not allowed")
		case "queries":
			// As the database does for each statement.
			if monitor.FromContext(ctx) == nil {
				return nil, errors.New("no monitor in the request's context")
			}
			monitor.TallyFrom(ctx).Add(2 * time.Millisecond)
			monitor.TallyFrom(ctx).Add(3 * time.Millisecond)
		}
		out := &idOutput{SetCookie: []string{"a=1; Path=/", "b=2; Path=/"}}
		p, _ := auth.From(ctx)
		out.Body.User = p.UserID.String()
		return out, nil
	}
	s := api.NewServer(api.Options{
		Log:      log,
		Monitor:  monitor.New(metrics, log, "Test", "test-fn"),
		Sessions: fakeSessions{token: "good-token-0123456789"},
	}, api.Handle(catalog.ContactsGet, h))
	return s, logs, metrics
}

type envelope struct {
	Error struct {
		Code       string              `json:"code"`
		Message    string              `json:"message"`
		Fields     map[string][]string `json:"fields"`
		RetryAfter int                 `json:"retryAfter"`
	} `json:"error"`
}

func TestErrorsAndRoutes(t *testing.T) {
	id := uuid.NewString()
	tests := []struct {
		name    string
		method  string
		target  string
		status  int
		code    string
		message string
		header  [2]string
	}{
		{"ok", "GET", "/v1/contacts/" + id, 200, "", "", [2]string{}},
		{"internal error hides its text", "GET", "/v1/contacts/" + id + "?mode=internal", 500, "INTERNAL_ERROR", "An unexpected error occurred", [2]string{}},
		{"panic", "GET", "/v1/contacts/" + id + "?mode=panic", 500, "INTERNAL_ERROR", "An unexpected error occurred", [2]string{}},
		{"rate limited", "GET", "/v1/contacts/" + id + "?mode=limited", 429, "RATE_LIMIT", "Too many requests", [2]string{"Retry-After", "2"}},
		{"unavailable", "GET", "/v1/contacts/" + id + "?mode=unavailable", 503, "UNAVAILABLE", "Database is unavailable", [2]string{"Retry-After", "1"}},
		{"unavailable for a while", "GET", "/v1/contacts/" + id + "?mode=restarting", 503, "UNAVAILABLE", "Database is unavailable", [2]string{"Retry-After", "2"}},
		{"forbidden", "GET", "/v1/contacts/" + id + "?mode=forbidden", 403, "FORBIDDEN", "Not allowed", [2]string{}},
		{"unknown route", "GET", "/v2/nothing", 404, "NOT_FOUND", "Route not found", [2]string{}},
		{"wrong method", "POST", "/v1/contacts/" + id, 405, "METHOD_NOT_ALLOWED", "Method POST is not allowed here", [2]string{"Allow", "GET, HEAD"}},
	}
	s, logs, _ := server(t)
	for _, tr := range testkit.Transports(s) {
		for _, tt := range tests {
			t.Run(tr.Name+"/"+tt.name, func(t *testing.T) {
				res := tr.Do(t, testkit.Request(tt.method, tt.target, "good-token-0123456789", nil))
				var env envelope
				raw := testkit.ReadJSON(t, res, &env)
				if res.StatusCode != tt.status || env.Error.Code != tt.code || env.Error.Message != tt.message {
					t.Fatalf("got %d %s", res.StatusCode, raw)
				}
				if strings.Contains(string(raw), "hunter2") {
					t.Fatalf("response leaks the internal error: %s", raw)
				}
				if tt.header[0] != "" && res.Header.Get(tt.header[0]) != tt.header[1] {
					t.Errorf("%s: %q, want %q", tt.header[0], res.Header.Get(tt.header[0]), tt.header[1])
				}
				if (tt.code == "RATE_LIMIT" || tt.code == "UNAVAILABLE") && strconv.Itoa(env.Error.RetryAfter) != res.Header.Get("Retry-After") {
					t.Errorf("retryAfter %d, Retry-After %q", env.Error.RetryAfter, res.Header.Get("Retry-After"))
				}
				if res.Header.Get("Content-Type") != "application/json" || res.Header.Get("X-Request-Id") == "" {
					t.Errorf("headers %v", res.Header)
				}
			})
		}
	}
	// Internal errors and panics are logged with their detail, once each
	// per transport, and with the request they belong to.
	var failed, panics int
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		switch rec["msg"] {
		case "request failed":
			failed++
			if !strings.Contains(fmt.Sprint(rec["err"]), "query contact") || rec["request_id"] == nil || rec["route"] != "contacts-get" {
				t.Errorf("internal error logged without detail or request: %s", line)
			}
		case "panic":
			panics++
			if rec["stack"] == nil || rec["request_id"] == nil {
				t.Errorf("panic logged without stack or request: %s", line)
			}
		}
	}
	if failed != 2 || panics != 2 {
		t.Errorf("logged %d internal errors and %d panics, want 2 and 2", failed, panics)
	}
}

func TestSetCookieAndUser(t *testing.T) {
	s, _, _ := server(t)
	for _, tr := range testkit.Transports(s) {
		t.Run(tr.Name, func(t *testing.T) {
			res := tr.Do(t, testkit.Request("GET", "/v1/contacts/"+uuid.NewString(), "good-token-0123456789", nil))
			var body struct{ User string }
			testkit.ReadJSON(t, res, &body)
			if got := res.Header.Values("Set-Cookie"); len(got) != 2 || got[0] != "a=1; Path=/" {
				t.Errorf("Set-Cookie %q", got)
			}
			if body.User != "0192a000-0000-7000-8000-000000000001" {
				t.Errorf("principal not passed to the handler: %q", body.User)
			}
		})
	}
	// In API Gateway's response cookies travel in their own array.
	ev := testkit.Event(t, testkit.Request("GET", "/v1/contacts/"+uuid.NewString(), "good-token-0123456789", nil))
	res := s.ServeEvent(context.Background(), ev)
	if len(res.Cookies) != 2 || res.Headers["Set-Cookie"] != "" {
		t.Fatalf("cookies %q, headers %v", res.Cookies, res.Headers)
	}
}

func TestRequestIDs(t *testing.T) {
	s, logs, _ := server(t)
	r := testkit.Request("GET", "/v2/x", "", nil)
	r.Header.Set("X-Request-Id", "client-id-42")
	res := testkit.Transports(s)[0].Do(t, r)
	if got := res.Header.Get("X-Request-Id"); got != "client-id-42" {
		t.Errorf("plain client request id not kept: %q", got)
	}
	r.Header.Set("X-Request-Id", "evil\nid")
	res = testkit.Transports(s)[0].Do(t, r)
	if got := res.Header.Get("X-Request-Id"); got == "" || strings.Contains(got, "evil") {
		t.Errorf("unsafe client request id kept: %q", got)
	}
	ev := testkit.Event(t, testkit.Request("GET", "/v2/x", "", nil))
	ev.RequestContext.RequestID = "apigw-req-7"
	out := s.ServeEvent(context.Background(), ev)
	if out.Headers["X-Request-Id"] != "apigw-req-7" || !strings.Contains(logs.String(), `"request_id":"apigw-req-7"`) {
		t.Errorf("API Gateway's request id not used: %v", out.Headers)
	}
}

func TestLambdaHandler(t *testing.T) {
	s, _, metrics := server(t)
	h := s.LambdaHandler()
	ev := testkit.Event(t, testkit.Request("POST", "/v1/contacts/x", "", "{}"))
	ev.Body = base64.StdEncoding.EncodeToString([]byte(`{"a": 1}`))
	ev.IsBase64Encoded = true
	res, err := h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 405 {
		t.Errorf("status %d, want 405", res.StatusCode)
	}
	if !strings.Contains(metrics.String(), `"Latency"`) {
		t.Errorf("no latency metric:\n%s", metrics.String())
	}
}

func TestNoTokenInLogs(t *testing.T) {
	s, logs, _ := server(t)
	token := "good-token-0123456789"
	for _, tr := range testkit.Transports(s) {
		r := testkit.Request("GET", "/v1/contacts/"+uuid.NewString()+"?mode=internal", token, nil)
		r.Header.Set("Cookie", "crm_session="+token)
		tr.Do(t, r)
	}
	if strings.Contains(logs.String(), token) {
		t.Fatalf("a session token reached the log:\n%s", logs.String())
	}
}

func TestMalformedEvent(t *testing.T) {
	s, _, _ := server(t)
	ev := events.APIGatewayV2HTTPRequest{RawPath: "/v1/contacts/x", Body: "%%%", IsBase64Encoded: true}
	ev.RequestContext.HTTP.Method = "GET"
	res := s.ServeEvent(context.Background(), ev)
	if res.StatusCode != 400 || !strings.Contains(res.Body, "VALIDATION_ERROR") {
		t.Fatalf("got %d %s", res.StatusCode, res.Body)
	}
}

// TestRequestMetrics: a request's database time and statements are
// metrics of the request, emitted only when it ran any.
func TestRequestMetrics(t *testing.T) {
	s, _, metrics := server(t)
	for _, tr := range testkit.Transports(s) {
		t.Run(tr.Name, func(t *testing.T) {
			metrics.Reset()
			res := tr.Do(t, testkit.Request("GET", "/v1/contacts/"+uuid.NewString()+"?mode=queries", "good-token-0123456789", nil))
			if res.StatusCode != 200 {
				t.Fatalf("status %d", res.StatusCode)
			}
			var line map[string]any
			if err := json.Unmarshal([]byte(strings.TrimSpace(metrics.String())), &line); err != nil {
				t.Fatalf("one metric line expected: %v\n%s", err, metrics.String())
			}
			if line["DatabaseTime"] != 5.0 {
				t.Errorf("DatabaseTime = %v; want 5", line["DatabaseTime"])
			}
			if line["DatabaseCalls"] != 2.0 {
				t.Errorf("DatabaseCalls = %v; want 2", line["DatabaseCalls"])
			}
			if _, ok := line["Latency"]; !ok {
				t.Errorf("no Latency beside them: %v", line)
			}

			metrics.Reset()
			tr.Do(t, testkit.Request("GET", "/v1/contacts/"+uuid.NewString(), "good-token-0123456789", nil))
			if strings.Contains(metrics.String(), "Database") {
				t.Errorf("a request without statements has database metrics: %s", metrics.String())
			}
		})
	}
}

// TestInvoke: the runtime's payload is served as ServeEvent serves the
// decoded event, and a payload that is not an event is an error.
func TestInvoke(t *testing.T) {
	s, _, _ := server(t)
	ev := testkit.Event(t, testkit.Request("POST", "/v1/contacts/x", "", "{}"))
	ev.Body = base64.StdEncoding.EncodeToString([]byte(`{"a": 1}`))
	ev.IsBase64Encoded = true
	ev.RequestContext.RequestID = "apigw-req-9"
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Invoke(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	var got events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	want := s.ServeEvent(context.Background(), ev)
	if got.StatusCode != 405 || got.StatusCode != want.StatusCode || got.Body != want.Body ||
		got.Headers["X-Request-Id"] != "apigw-req-9" || got.Headers["Allow"] != want.Headers["Allow"] {
		t.Errorf("Invoke gave %+v; ServeEvent %+v", got, want)
	}
	if _, err := s.Invoke(context.Background(), []byte(`[1]`)); err == nil {
		t.Error("a payload that is not an event was served")
	}
}

// TestInvokeForgetsEarlierResponses: a response carries nothing of the
// ones served before it, whose writers it may reuse.
func TestInvokeForgetsEarlierResponses(t *testing.T) {
	s, _, _ := server(t)
	invoke := func(method, target string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		raw, err := json.Marshal(testkit.Event(t, testkit.Request(method, target, "", nil)))
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Invoke(context.Background(), raw)
		if err != nil {
			t.Fatal(err)
		}
		var res events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	for i := 0; i < 3; i++ {
		if res := invoke("POST", "/v1/contacts/x"); res.StatusCode != 405 || res.Headers["Allow"] == "" {
			t.Fatalf("405 expected, with Allow: %+v", res)
		}
		res := invoke("GET", "/no/such/route")
		if res.StatusCode != 404 || res.Headers["Allow"] != "" || strings.Contains(res.Body, "not allowed") {
			t.Errorf("the 404 carries the 405 before it: %+v", res)
		}
	}
}
