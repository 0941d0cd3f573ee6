package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/personalcrm/core/shared/logging"
)

var t0 = time.UnixMilli(1_700_000_000_000)

// fixture is a Monitor whose clock advances by step at every reading, with
// its metric lines and its log lines captured.
type fixture struct {
	m       *Monitor
	metrics bytes.Buffer
	logs    bytes.Buffer
}

func newFixture(step time.Duration, opts ...Option) *fixture {
	f := &fixture{}
	log := logging.New(&f.logs, slog.LevelDebug)
	f.m = New(&f.metrics, log, "PersonalCRM", "contacts-get", opts...)
	now := t0
	f.m.now = func() time.Time {
		t := now
		now = now.Add(step)
		return t
	}
	return f
}

// lines parses the metric lines, failing unless each is one JSON object
// ending with a newline.
func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	s := buf.String()
	if s == "" {
		return nil
	}
	if !strings.HasSuffix(s, "\n") {
		t.Fatalf("output does not end with a newline: %q", s)
	}
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSuffix(s, "\n"), "\n") {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("line is not a JSON object: %v\n%s", err, line)
		}
		out = append(out, obj)
	}
	return out
}

// emf builds the expected line: the metadata for the defined metrics
// ({name, unit} pairs), then the root members.
func emf(at time.Time, dims []any, defs [][2]string, members map[string]any) map[string]any {
	metrics := []any{}
	for _, d := range defs {
		metrics = append(metrics, map[string]any{"Name": d[0], "Unit": d[1]})
	}
	line := map[string]any{
		"_aws": map[string]any{
			"Timestamp": float64(at.UnixMilli()),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  "PersonalCRM",
				"Dimensions": []any{dims},
				"Metrics":    metrics,
			}},
		},
		"function": "contacts-get",
	}
	for k, v := range members {
		line[k] = v
	}
	return line
}

var fn = []any{"function"}

func TestLineShape(t *testing.T) {
	f := newFixture(0)
	f.m.Duration(context.Background(), "x", 12500*time.Microsecond)
	want := `{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"PersonalCRM",` +
		`"Dimensions":[["function"]],"Metrics":[{"Name":"x","Unit":"Milliseconds"}]}]},` +
		`"function":"contacts-get","x":12.5}` + "\n"
	if got := f.metrics.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestEmit(t *testing.T) {
	withID := logging.WithAttrs(context.Background(), slog.String("request_id", "req-1"), slog.String("user_id", "u1"))

	tests := []struct {
		name  string
		opts  []Option
		emit  func(ctx context.Context, m *Monitor)
		ctx   context.Context
		want  []map[string]any
		warns int // "metric dropped" and "metric dimension ignored" lines
	}{
		{
			name: "Count",
			emit: func(ctx context.Context, m *Monitor) { m.Count(ctx, "contacts.created", 3) },
			want: []map[string]any{emf(t0, fn, [][2]string{{"contacts.created", "Count"}}, map[string]any{"contacts.created": 3.0})},
		},
		{
			name: "Duration",
			emit: func(ctx context.Context, m *Monitor) { m.Duration(ctx, "google.call", 1500*time.Microsecond) },
			want: []map[string]any{emf(t0, fn, [][2]string{{"google.call", "Milliseconds"}}, map[string]any{"google.call": 1.5})},
		},
		{
			name: "ColdStart",
			emit: func(ctx context.Context, m *Monitor) { m.ColdStart(ctx) },
			want: []map[string]any{emf(t0, fn, [][2]string{{"ColdStart", "Count"}}, map[string]any{"ColdStart": 1.0})},
		},
		{
			name: "several metrics on one line",
			emit: func(ctx context.Context, m *Monitor) {
				m.Emit(ctx, Metric{"a", Count, 1}, Metric{"b", Bytes, 2048}, Metric{"c", "", 0.25})
			},
			want: []map[string]any{emf(t0, fn,
				[][2]string{{"a", "Count"}, {"b", "Bytes"}, {"c", "None"}},
				map[string]any{"a": 1.0, "b": 2048.0, "c": 0.25})},
		},
		{
			name: "values of one name",
			emit: func(ctx context.Context, m *Monitor) {
				m.Emit(ctx, Metric{"x", Count, 1}, Metric{"y", Count, 5}, Metric{"x", Count, 2})
			},
			want: []map[string]any{emf(t0, fn,
				[][2]string{{"x", "Count"}, {"y", "Count"}},
				map[string]any{"x": []any{1.0, 2.0}, "y": 5.0})},
		},
		{
			name: "request id",
			ctx:  withID,
			emit: func(ctx context.Context, m *Monitor) { m.Count(ctx, "n", 1) },
			want: []map[string]any{emf(t0, fn, [][2]string{{"n", "Count"}}, map[string]any{"n": 1.0, "request_id": "req-1"})},
		},
		{
			name: "extra dimension",
			opts: []Option{WithDimension("stage", "prod")},
			emit: func(ctx context.Context, m *Monitor) { m.Count(ctx, "n", 1) },
			want: []map[string]any{emf(t0, []any{"function", "stage"}, [][2]string{{"n", "Count"}}, map[string]any{"n": 1.0, "stage": "prod"})},
		},
		{
			name:  "invalid dimensions",
			opts:  []Option{WithDimension("function", "x"), WithDimension("request_id", "x"), WithDimension("stage", "")},
			emit:  func(ctx context.Context, m *Monitor) { m.Count(ctx, "n", 1) },
			want:  []map[string]any{emf(t0, fn, [][2]string{{"n", "Count"}}, map[string]any{"n": 1.0})},
			warns: 3,
		},
		{
			name: "invalid metrics dropped",
			ctx:  withID,
			emit: func(ctx context.Context, m *Monitor) {
				m.Emit(ctx,
					Metric{"", Count, 1}, Metric{"function", Count, 1}, Metric{"request_id", Count, 1},
					Metric{"_aws", Count, 1}, Metric{strings.Repeat("n", 256), Count, 1},
					Metric{"ok", Count, math.NaN()}, Metric{"ok", Count, 7}, Metric{"inf", Count, math.Inf(1)})
			},
			want:  []map[string]any{emf(t0, fn, [][2]string{{"ok", "Count"}}, map[string]any{"ok": 7.0, "request_id": "req-1"})},
			warns: 7,
		},
		{
			name:  "nothing valid, no line",
			emit:  func(ctx context.Context, m *Monitor) { m.Emit(ctx, Metric{"", Count, 1}) },
			warns: 1,
		},
		{
			name: "nothing to emit",
			emit: func(ctx context.Context, m *Monitor) { m.Emit(ctx) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(0, tt.opts...)
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			tt.emit(ctx, f.m)
			if diff := cmp.Diff(tt.want, lines(t, &f.metrics)); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			if got := strings.Count(f.logs.String(), `"level":"WARN"`); got != tt.warns {
				t.Errorf("got %d warnings, want %d:\n%s", got, tt.warns, f.logs.String())
			}
		})
	}
}

func TestEmitSplitsAt100(t *testing.T) {
	f := newFixture(0)
	var metrics []Metric
	for i := range 150 {
		metrics = append(metrics, Metric{Name: "m" + string(rune('a'+i/26)) + string(rune('a'+i%26)), Unit: Count, Value: float64(i)})
	}
	f.m.Emit(context.Background(), metrics...)
	got := lines(t, &f.metrics)
	if len(got) != 2 {
		t.Fatalf("got %d lines, want 2", len(got))
	}
	for i, n := range []int{100, 50} {
		defs := got[i]["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)["Metrics"].([]any)
		if len(defs) != n || len(got[i]) != n+2 { // + _aws and function
			t.Errorf("line %d: %d definitions, %d members; want %d metrics", i, len(defs), len(got[i]), n)
		}
	}
}

func TestTrack(t *testing.T) {
	errBoom := errors.New("boom")

	tests := []struct {
		name     string
		step     time.Duration
		slow     *time.Duration // nil: default
		err      error
		want     map[string]any
		wantLog  string // level and message of the one log line
		wantDefs [][2]string
	}{
		{
			name:     "success",
			step:     12500 * time.Microsecond,
			wantDefs: [][2]string{{"db.query", "Milliseconds"}},
			want:     map[string]any{"db.query": 12.5},
			wantLog:  `"level":"DEBUG","msg":"tracked","label":"db.query","duration_ms":12.5`,
		},
		{
			name:     "error",
			step:     3 * time.Millisecond,
			err:      errBoom,
			wantDefs: [][2]string{{"db.query", "Milliseconds"}, {"db.query.errors", "Count"}},
			want:     map[string]any{"db.query": 3.0, "db.query.errors": 1.0},
			wantLog:  `"level":"DEBUG","msg":"tracked","label":"db.query","duration_ms":3`,
		},
		{
			name:     "slow by default",
			step:     1500 * time.Millisecond,
			wantDefs: [][2]string{{"db.query", "Milliseconds"}},
			want:     map[string]any{"db.query": 1500.0},
			wantLog:  `"level":"WARN","msg":"slow operation","label":"db.query","duration_ms":1500,"slow_ms":1000`,
		},
		{
			name:     "slow by SetSlow",
			step:     12500 * time.Microsecond,
			slow:     new(10 * time.Millisecond),
			wantDefs: [][2]string{{"db.query", "Milliseconds"}},
			want:     map[string]any{"db.query": 12.5},
			wantLog:  `"level":"WARN","msg":"slow operation","label":"db.query","duration_ms":12.5,"slow_ms":10`,
		},
		{
			name:     "slow warning disabled",
			step:     time.Minute,
			slow:     new(time.Duration(0)),
			wantDefs: [][2]string{{"db.query", "Milliseconds"}},
			want:     map[string]any{"db.query": 60000.0},
			wantLog:  `"level":"DEBUG","msg":"tracked","label":"db.query","duration_ms":60000`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(tt.step)
			if tt.slow != nil {
				f.m.SetSlow(*tt.slow)
			}
			ran := false
			err := f.m.Track(context.Background(), "db.query", func(context.Context) error {
				ran = true
				return tt.err
			})
			if !ran || err != tt.err {
				t.Errorf("Track ran fn: %v, returned %v; want %v", ran, err, tt.err)
			}
			want := []map[string]any{emf(t0.Add(tt.step), fn, tt.wantDefs, tt.want)}
			if diff := cmp.Diff(want, lines(t, &f.metrics)); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			logs := f.logs.String()
			if strings.Count(logs, "\n") != 1 || !strings.Contains(logs, tt.wantLog) {
				t.Errorf("log:\n%s\nwant one line with %s", logs, tt.wantLog)
			}
		})
	}
}

// TestTrackWithOption runs on the bubble's fake clock: the operation takes
// its millisecond without the test waiting for it.
func TestTrackWithOption(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fixture{}
		f.m = New(&f.metrics, logging.New(&f.logs, slog.LevelInfo), "PersonalCRM", "contacts-get", WithSlow(time.Nanosecond))
		_ = f.m.Track(context.Background(), "op", func(context.Context) error {
			time.Sleep(time.Millisecond)
			return nil
		})
		if !strings.Contains(f.logs.String(), `"msg":"slow operation"`) {
			t.Errorf("log: %s", f.logs.String())
		}
	})
}

func TestTrackPanic(t *testing.T) {
	f := newFixture(time.Millisecond)
	defer func() {
		if r := recover(); r != "broken" {
			t.Fatalf("recovered %v, want the panic of fn", r)
		}
		want := []map[string]any{emf(t0.Add(time.Millisecond), fn,
			[][2]string{{"op", "Milliseconds"}, {"op.errors", "Count"}},
			map[string]any{"op": 1.0, "op.errors": 1.0})}
		if diff := cmp.Diff(want, lines(t, &f.metrics)); diff != "" {
			t.Errorf("lines (-want +got):\n%s", diff)
		}
	}()
	_ = f.m.Track(context.Background(), "op", func(context.Context) error { panic("broken") })
	t.Fatal("Track returned")
}

func TestTrackValue(t *testing.T) {
	errBoom := errors.New("boom")
	for _, tt := range []struct {
		name string
		err  error
		want map[string]any
	}{
		{name: "success", want: map[string]any{"google.fetch": 2.0}},
		{name: "error", err: errBoom, want: map[string]any{"google.fetch": 2.0, "google.fetch.errors": 1.0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(2 * time.Millisecond)
			got, err := TrackValue(context.Background(), f.m, "google.fetch", func(context.Context) (int, error) {
				return 42, tt.err
			})
			if got != 42 || err != tt.err {
				t.Errorf("TrackValue = %v, %v; want 42, %v", got, err, tt.err)
			}
			line := lines(t, &f.metrics)
			if len(line) != 1 {
				t.Fatalf("got %d lines", len(line))
			}
			delete(line[0], "_aws")
			delete(line[0], "function")
			if diff := cmp.Diff(tt.want, line[0]); diff != "" {
				t.Errorf("metrics (-want +got):\n%s", diff)
			}
		})
	}
}

// Concurrent lines never interleave, even on a writer that is not safe for
// concurrent use (bytes.Buffer; -race reports otherwise).
func TestConcurrentTrack(t *testing.T) {
	var out bytes.Buffer
	m := New(&out, nil, "PersonalCRM", "contacts-get")
	var wg sync.WaitGroup
	for i := range 50 {
		ctx := logging.WithAttrs(context.Background(), slog.Int("request_id", i))
		wg.Go(func() {
			_ = m.Track(ctx, "op", func(context.Context) error { return nil })
		})
	}
	wg.Wait()
	got := lines(t, &out)
	if len(got) != 50 {
		t.Fatalf("got %d lines, want 50", len(got))
	}
	ids := map[any]bool{}
	for _, line := range got {
		if _, ok := line["op"].(float64); !ok {
			t.Errorf("no value for op in %v", line)
		}
		ids[line["request_id"]] = true
	}
	if len(ids) != 50 {
		t.Errorf("got %d distinct request ids, want 50", len(ids))
	}
}

func TestNil(t *testing.T) {
	var m *Monitor
	ctx := context.Background()
	errBoom := errors.New("boom")
	if err := m.Track(ctx, "op", func(context.Context) error { return errBoom }); err != errBoom {
		t.Errorf("Track = %v", err)
	}
	if v, err := TrackValue(ctx, m, "op", func(context.Context) (string, error) { return "v", nil }); err != nil {
		t.Errorf("TrackValue: %v", err)
	} else if v != "v" {
		t.Errorf("TrackValue = %q, want v", v)
	}
	m.Count(ctx, "n", 1)
	m.Duration(ctx, "d", time.Second)
	m.Emit(ctx, Metric{"x", Count, 1})
	m.ColdStart(ctx)
	m.SetSlow(time.Second)
}

func TestDiscard(t *testing.T) {
	m := Discard()
	if err := m.Track(context.Background(), "op", func(context.Context) error { return nil }); err != nil {
		t.Error(err)
	}
	m.Count(context.Background(), "n", 1)
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }

func TestWriteError(t *testing.T) {
	var logs bytes.Buffer
	m := New(failingWriter{}, logging.New(&logs, slog.LevelInfo), "PersonalCRM", "contacts-get")
	m.Count(context.Background(), "n", 1)
	if !strings.Contains(logs.String(), `"msg":"metrics not written","err":"closed"`) {
		t.Errorf("log: %s", logs.String())
	}
}

// flakyWriter fails its first write.
type flakyWriter struct {
	bytes.Buffer
	failed bool
}

func (w *flakyWriter) Write(p []byte) (int, error) {
	if !w.failed {
		w.failed = true
		return 0, errors.New("closed")
	}
	return w.Buffer.Write(p)
}

// A failed write loses its line only.
func TestWriteErrorThenWrite(t *testing.T) {
	var w flakyWriter
	m := New(&w, nil, "PersonalCRM", "contacts-get")
	m.now = func() time.Time { return t0 }
	m.Count(context.Background(), "lost", 1)
	m.Count(context.Background(), "kept", 2)
	want := []map[string]any{emf(t0, fn, [][2]string{{"kept", "Count"}}, map[string]any{"kept": 2.0})}
	if diff := cmp.Diff(want, lines(t, &w.Buffer)); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// Names and values survive the line's encoding as encoding/json reads
// them back.
func TestEncoding(t *testing.T) {
	names := []string{`quote"back\slash`, "tab\tnew\nline\x01", "é ü 日本", "bad\xffutf8", "sep\u2028", "<a&b>"}
	values := []float64{0, 1, -3.25, 1e-7, 1.5e21, 123456789.125, 5e-324, math.MaxFloat64, -0.000001}
	for _, name := range names {
		for _, v := range values {
			f := newFixture(0)
			f.m.Emit(context.Background(), Metric{Name: name, Unit: Count, Value: v})
			wantName := strings.ToValidUTF8(name, "\ufffd")
			want := []map[string]any{emf(t0, fn, [][2]string{{wantName, "Count"}}, map[string]any{wantName: v})}
			if diff := cmp.Diff(want, lines(t, &f.metrics)); diff != "" {
				t.Errorf("%q: %v (-want +got):\n%s", name, v, diff)
			}
		}
	}
}

func BenchmarkTrack(b *testing.B) {
	m := New(io.Discard, logging.New(io.Discard, slog.LevelInfo), "PersonalCRM", "contacts-get")
	ctx := logging.WithAttrs(context.Background(), slog.String("request_id", "c0ffee00-1234"))
	op := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Track(ctx, "db.query", op)
	}
}

// BenchmarkEmit writes the line an API request emits: its latency and
// fault, with the request id and a stage dimension.
func BenchmarkEmit(b *testing.B) {
	m := New(io.Discard, logging.New(io.Discard, slog.LevelInfo), "PersonalCRM", "contacts-get", WithDimension("stage", "prod"))
	ctx := logging.WithAttrs(context.Background(), slog.String("request_id", "c0ffee00-1234-4321-abcd-0123456789ab"))
	latency := Metric{Name: "Latency", Unit: Milliseconds, Value: 12.345}
	fault := Metric{Name: "Fault", Unit: Count}
	b.ReportAllocs()
	for b.Loop() {
		m.Emit(ctx, latency, fault)
	}
}
