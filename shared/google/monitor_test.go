package google_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/monitor"
	"github.com/personalcrm/core/shared/sandbox"
	"github.com/personalcrm/core/shared/testkit"
)

// emitted is what a monitor wrote: the metrics of its EMF lines, by name,
// each with its unit and values.
type emitted struct {
	buf, logs bytes.Buffer
}

type metric struct {
	unit   string
	values []float64
}

func (e *emitted) metrics(t *testing.T) map[string]metric {
	t.Helper()
	out := map[string]metric{}
	for _, line := range strings.Split(strings.TrimSpace(e.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var root map[string]any
		if err := json.Unmarshal([]byte(line), &root); err != nil {
			t.Fatalf("metric line is not JSON: %v\n%s", err, line)
		}
		var meta struct {
			CloudWatchMetrics []struct {
				Namespace string
				Metrics   []struct{ Name, Unit string }
			}
		}
		raw, _ := json.Marshal(root["_aws"])
		if err := json.Unmarshal(raw, &meta); err != nil {
			t.Fatalf("metric line with unreadable EMF metadata (%v): %s", err, line)
		}
		if len(meta.CloudWatchMetrics) != 1 {
			t.Fatalf("metric line with %d EMF metric sets, want 1: %s", len(meta.CloudWatchMetrics), line)
		}
		if fn := root["function"]; fn != "email-sync" {
			t.Errorf("metric line's function = %v; want email-sync", fn)
		}
		for _, d := range meta.CloudWatchMetrics[0].Metrics {
			m := out[d.Name]
			m.unit = d.Unit
			switch v := root[d.Name].(type) {
			case float64:
				m.values = append(m.values, v)
			case []any:
				for _, x := range v {
					m.values = append(m.values, x.(float64))
				}
			default:
				t.Fatalf("metric %s has no value: %s", d.Name, line)
			}
			out[d.Name] = m
		}
	}
	e.buf.Reset()
	return out
}

func newMonitor(e *emitted, opts ...monitor.Option) *monitor.Monitor {
	return monitor.New(&e.buf, logging.New(&e.logs, slog.LevelDebug), "PersonalCRM", "email-sync", opts...)
}

// TestCallsAreTimed: a call to Gmail, People or the token and revocation
// endpoints through the sandbox is timed by the monitor in its context,
// under its service's label; Google's refusals reach the caller as they
// were.
func TestCallsAreTimed(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	kit := testkit.StartGoogleKit(t, pool, sandbox.GoogleOptions{})
	addr := "timed@mine.example"
	user, _, account := kit.Account(t, pool, addr)
	var e emitted
	ctx := monitor.NewContext(context.Background(), newMonitor(&e))
	api := kit.Client.APIClient(ctx, kit.Tokens, user, account)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, kit.Sandbox.URL()+path, nil)
		res, err := api.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res, string(body)
	}

	// Gmail: one metric, in milliseconds, and no error.
	if res, body := get("/gmail/v1/users/me/profile"); res.StatusCode != http.StatusOK {
		t.Fatalf("gmail profile: %d %s", res.StatusCode, body)
	}
	got := e.metrics(t)
	if m := got[google.LabelGmail]; len(m.values) != 1 {
		t.Fatalf("metric %s = %+v; want one value (all: %v)", google.LabelGmail, m, got)
	}
	if u := got[google.LabelGmail].unit; u != "Milliseconds" {
		t.Errorf("unit of %s = %q; want Milliseconds", google.LabelGmail, u)
	}
	if m, ok := got[google.LabelGmail+".errors"]; ok {
		t.Errorf("a successful call counted as an error: %+v", m)
	}

	// A Gmail batch request is a Gmail call too.
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, kit.Sandbox.URL()+"/batch/gmail/v1",
		strings.NewReader("--B\r\nContent-Type: application/http\r\n\r\nGET /gmail/v1/users/me/profile HTTP/1.1\r\n\r\n--B--\r\n"))
	req.Header.Set("Content-Type", "multipart/mixed; boundary=B")
	res, err := api.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("gmail batch: %v %v", res, err)
	}
	res.Body.Close()
	if m := e.metrics(t)[google.LabelGmail]; len(m.values) != 1 {
		t.Fatalf("metric %s = %+v; want the batch's value too", google.LabelGmail, m)
	}

	// People.
	if res, body := get("/v1/people:searchContacts?query=ada&readMask=names"); res.StatusCode != http.StatusOK {
		t.Fatalf("people search: %d %s", res.StatusCode, body)
	}
	if m := e.metrics(t)[google.LabelPeople]; len(m.values) != 1 {
		t.Fatalf("metric %s = %+v; want one value", google.LabelPeople, m)
	}

	// Gmail failing: the caller gets Google's answer itself, and the call
	// counts as an error.
	kit.Sandbox.FailGmail(http.StatusServiceUnavailable)
	res, body := get("/gmail/v1/users/me/profile")
	kit.Sandbox.FailGmail(0)
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("failing gmail: status %d; want 503", res.StatusCode)
	}
	if !strings.Contains(body, `"error"`) {
		t.Errorf("failing gmail: body %q; want Google's error", body)
	}
	got = e.metrics(t)
	if m := got[google.LabelGmail+".errors"]; len(m.values) != 1 || m.values[0] != 1 || m.unit != "Count" {
		t.Errorf("metric %s.errors = %+v; want Count 1", google.LabelGmail, m)
	}
	if m := got[google.LabelGmail]; len(m.values) != 1 {
		t.Errorf("metric %s = %+v; want the failed call's duration", google.LabelGmail, m)
	}

	// The token endpoint: a refused refresh is still ErrInvalidGrant.
	if _, err := kit.Client.Refresh(ctx, "not-a-refresh-token"); !errors.Is(err, google.ErrInvalidGrant) {
		t.Errorf("refresh with a bad token: %v; want ErrInvalidGrant", err)
	}
	if m := e.metrics(t)[google.LabelToken]; len(m.values) != 1 {
		t.Errorf("metric %s = %+v; want one value", google.LabelToken, m)
	}

	// Revocation: a token Google does not know counts as revoked.
	if err := kit.Client.Revoke(ctx, "unknown-token"); err != nil {
		t.Errorf("revoke an unknown token: %v", err)
	}
	if m := e.metrics(t)[google.LabelRevoke]; len(m.values) != 1 {
		t.Errorf("metric %s = %+v; want one value", google.LabelRevoke, m)
	}

	// Without a monitor in the context nothing is emitted.
	if err := kit.Client.Revoke(context.Background(), "unknown-token"); err != nil {
		t.Fatal(err)
	}
	if e.buf.Len() != 0 {
		t.Errorf("a call without a monitor emitted %s", e.buf.String())
	}
}

// TestSlowCallWarns: a call slower than the monitor's threshold is
// logged as a slow operation, with its label and no URL or token.
func TestSlowCallWarns(t *testing.T) {
	t.Parallel()
	g, c := sandboxClient(t, sandbox.GoogleOptions{})
	var e emitted
	ctx := monitor.NewContext(context.Background(), newMonitor(&e, monitor.WithSlow(time.Nanosecond)))
	if err := c.Revoke(ctx, "secret-token-value"); err != nil {
		t.Fatal(err)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "slow operation") || !strings.Contains(logs, google.LabelRevoke) {
		t.Errorf("no slow operation warning for %s: %s", google.LabelRevoke, logs)
	}
	if strings.Contains(logs, "secret-token-value") || strings.Contains(logs, g.URL()) {
		t.Errorf("the warning gives away the request: %s", logs)
	}
}

// TestCallersClientUnchanged: the client given in Options is not
// changed by the timing New adds.
func TestCallersClientUnchanged(t *testing.T) {
	rt := http.DefaultTransport
	hc := &http.Client{Transport: rt, Timeout: time.Second}
	google.New(google.Options{HTTP: hc, Endpoints: google.Production})
	if hc.Transport != rt {
		t.Error("New replaced the transport of the caller's client")
	}
}
