package platform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/monitor"
	"github.com/personalcrm/core/shared/platform"
)

// echo is a Handler of any kind: it answers the context's log attributes
// and whether the context carries the app's monitor.
type echo struct{ log *slog.Logger }

func (e echo) Lambda(*platform.App) any {
	return func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		e.log.InfoContext(ctx, "invoked")
		if monitor.FromContext(ctx) == nil {
			return nil, errors.New("no monitor in the context")
		}
		return in, nil
	}
}

func testApp(t *testing.T) (*platform.App, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	var logs, metrics bytes.Buffer
	log := logging.New(&logs, slog.LevelInfo)
	fn := catalog.MustLookup(catalog.SyncAccounts)
	return &platform.App{Function: fn, Log: log, Monitor: monitor.New(&metrics, log, platform.Namespace, fn.Name)}, &logs, &metrics
}

// TestLambdaMarksTheColdStart: every kind of function logs its name and
// cold_start on each invocation and emits one ColdStart metric, on the
// first.
func TestLambdaMarksTheColdStart(t *testing.T) {
	app, logs, metrics := testApp(t)
	h := platform.Lambda(app, echo{log: app.Log})
	for i := range 3 {
		out, err := h.Invoke(context.Background(), []byte(`"ping"`))
		if err != nil {
			t.Fatalf("invocation %d: %v", i, err)
		}
		if string(out) != `"ping"` {
			t.Errorf("invocation %d answered %s", i, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d log lines, want 3:\n%s", len(lines), logs.String())
	}
	for i, line := range lines {
		want := `"cold_start":false`
		if i == 0 {
			want = `"cold_start":true`
		}
		if !strings.Contains(line, want) {
			t.Errorf("line %d lacks %s: %s", i, want, line)
		}
		if !strings.Contains(line, `"function":"sync-accounts"`) {
			t.Errorf("line %d lacks the function's name: %s", i, line)
		}
	}
	if n := strings.Count(metrics.String(), `"ColdStart":1`); n != 1 {
		t.Errorf("ColdStart emitted %d times, want once:\n%s", n, metrics.String())
	}
}

// TestOpAnswersItsReportOrError: an operation's report is its answer and
// is logged; its error reaches the invoker.
func TestOpAnswersItsReportOrError(t *testing.T) {
	app, logs, _ := testApp(t)
	ok := platform.Lambda(app, platform.Op(func(context.Context) (any, error) { return map[string]int{"due": 2}, nil }))
	out, err := ok.Invoke(context.Background(), []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"due":2}` {
		t.Errorf("answered %s", out)
	}
	if !strings.Contains(logs.String(), `"msg":"operation done"`) {
		t.Errorf("report not logged:\n%s", logs.String())
	}
	failing := platform.Lambda(app, platform.Op(func(context.Context) (any, error) { return nil, errors.New("database gone") }))
	if _, err := failing.Invoke(context.Background(), []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "database gone") {
		t.Errorf("error not answered: %v", err)
	}
}

// raw is a Handler whose Lambda takes the raw payload itself, as a route's
// server does.
type raw struct{ log *slog.Logger }

func (r raw) Lambda(*platform.App) any { return r }

func (r raw) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	r.log.InfoContext(ctx, "invoked")
	return append([]byte("raw:"), payload...), nil
}

// TestLambdaCallsARawHandlerAsItIs: a handler of the raw payload gets it
// and answers it unchanged, with the same log fields as any other.
func TestLambdaCallsARawHandlerAsItIs(t *testing.T) {
	app, logs, _ := testApp(t)
	out, err := platform.Lambda(app, raw{log: app.Log}).Invoke(context.Background(), []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `raw:{"a":1}` {
		t.Errorf("answered %s", out)
	}
	if !strings.Contains(logs.String(), `"cold_start":true`) {
		t.Errorf("no cold_start field:\n%s", logs.String())
	}
}
