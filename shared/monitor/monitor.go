// Package monitor measures durations and counts and emits them as CloudWatch
// Embedded Metric Format (EMF) log lines.
//
// In Lambda the lines go to stdout, where CloudWatch Logs extracts the metrics
// from them: no API call, no added latency. Every metric carries the dimension
// "function" (the function's catalog name); the request id carried by the
// context under logging.RequestIDKey is added as a plain property, so a metric
// can be traced back to the request's log lines.
package monitor

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/personalcrm/core/shared/logging"
)

// Unit is the CloudWatch unit of a metric.
type Unit string

// The units used by the functions.
const (
	Milliseconds Unit = "Milliseconds"
	Count        Unit = "Count"
	Bytes        Unit = "Bytes"
	None         Unit = "None"
)

// Metric is one value of a named metric.
type Metric struct {
	Name  string
	Unit  Unit // None when empty
	Value float64
}

// DefaultSlow is the duration above which Track logs a warning.
const DefaultSlow = time.Second

// Monitor emits metrics for one function. It is safe for concurrent use.
// A nil *Monitor is valid and emits and logs nothing.
type Monitor struct {
	w    io.Writer
	mu   sync.Mutex // one Write at a time, so lines never interleave
	log  *slog.Logger
	slow atomic.Int64 // time.Duration; <= 0 disables the warning
	now  func() time.Time

	namespace string
	dims      []dimension
	dimSets   [][]string // the names of dims, as the line's one dimension set
}

type dimension struct {
	name  string
	value any // a string, boxed once rather than at every line
}

// Option configures a Monitor.
type Option func(*Monitor)

// WithDimension adds a dimension to every metric, such as the deployment
// stage. A dimension without name or value, named like a reserved property
// ("_aws", "function", "request_id") or like an earlier dimension is ignored
// with a warning; so are dimensions beyond CloudWatch's limit of 30.
func WithDimension(name, value string) Option {
	return func(m *Monitor) {
		switch {
		case name == "" || value == "" || m.reserved(name):
			m.log.Warn("metric dimension ignored", "dimension", name)
		case len(m.dims) >= maxDimensions:
			m.log.Warn("metric dimension ignored: too many", "dimension", name)
		default:
			m.dims = append(m.dims, dimension{name, value})
		}
	}
}

// WithSlow sets the duration above which Track logs "slow operation" at
// Warn; zero or less disables the warning.
func WithSlow(d time.Duration) Option {
	return func(m *Monitor) { m.slow.Store(int64(d)) }
}

// CloudWatch limits.
const (
	maxDimensions = 30
	maxMetrics    = 100 // per line
	maxName       = 255
)

// New returns a Monitor writing EMF lines to w (stdout in Lambda) under the
// CloudWatch namespace, with the dimension "function" set to function.
// Its own problems, such as a metric dropped for an invalid name or a failed
// write, are logged to log at Warn; a nil log discards them.
func New(w io.Writer, log *slog.Logger, namespace, function string, opts ...Option) *Monitor {
	if w == nil {
		w = io.Discard
	}
	if log == nil {
		log = logging.Discard()
	}
	m := &Monitor{w: w, log: log, now: time.Now, namespace: namespace}
	m.slow.Store(int64(DefaultSlow))
	m.dims = []dimension{{"function", function}}
	for _, opt := range opts {
		opt(m)
	}
	names := make([]string, len(m.dims))
	for i, d := range m.dims {
		names[i] = d.name
	}
	m.dimSets = [][]string{names}
	return m
}

// Discard returns a Monitor that builds its lines and throws them away.
func Discard() *Monitor {
	return New(io.Discard, nil, "discard", "discard")
}

// SetSlow sets the duration above which Track logs "slow operation" at Warn;
// zero or less disables the warning.
func (m *Monitor) SetSlow(d time.Duration) {
	if m != nil {
		m.slow.Store(int64(d))
	}
}

// Track runs fn, emits its duration as the metric label (Milliseconds) and,
// when fn fails, label+".errors" (Count 1). It logs the duration at Debug,
// or at Warn as "slow operation" when it exceeds the slow threshold.
// It returns fn's error unchanged. A panic in fn is counted as an error and
// goes on unwinding after the metrics are emitted.
func (m *Monitor) Track(ctx context.Context, label string, fn func(context.Context) error) (err error) {
	if m == nil {
		return fn(ctx)
	}
	start := m.now()
	returned := false
	defer func() { m.done(ctx, label, start, err != nil || !returned) }()
	err = fn(ctx)
	returned = true
	return err
}

// TrackValue is Track for a function that returns a value with its error.
func TrackValue[T any](ctx context.Context, m *Monitor, label string, fn func(context.Context) (T, error)) (v T, err error) {
	if m == nil {
		return fn(ctx)
	}
	start := m.now()
	returned := false
	defer func() { m.done(ctx, label, start, err != nil || !returned) }()
	v, err = fn(ctx)
	returned = true
	return v, err
}

func (m *Monitor) done(ctx context.Context, label string, start time.Time, failed bool) {
	end := m.now()
	d := end.Sub(start)
	ms := float64(d) / float64(time.Millisecond)

	metrics := [2]Metric{{Name: label, Unit: Milliseconds, Value: ms}}
	n := 1
	if failed {
		metrics[1] = Metric{Name: label + ".errors", Unit: Count, Value: 1}
		n = 2
	}
	m.emit(ctx, end, metrics[:n])

	if slow := time.Duration(m.slow.Load()); slow > 0 && d > slow {
		m.log.LogAttrs(ctx, slog.LevelWarn, "slow operation",
			slog.String("label", label), slog.Float64("duration_ms", ms),
			slog.Float64("slow_ms", float64(slow)/float64(time.Millisecond)))
		return
	}
	if m.log.Enabled(ctx, slog.LevelDebug) {
		m.log.LogAttrs(ctx, slog.LevelDebug, "tracked", slog.String("label", label), slog.Float64("duration_ms", ms))
	}
}

// Count emits n as the metric name, in Count.
func (m *Monitor) Count(ctx context.Context, name string, n float64) {
	if m != nil {
		m.emit(ctx, m.now(), []Metric{{Name: name, Unit: Count, Value: n}})
	}
}

// Duration emits d as the metric name, in Milliseconds.
func (m *Monitor) Duration(ctx context.Context, name string, d time.Duration) {
	if m != nil {
		ms := float64(d) / float64(time.Millisecond)
		m.emit(ctx, m.now(), []Metric{{Name: name, Unit: Milliseconds, Value: ms}})
	}
}

// ColdStart emits the metric ColdStart (Count 1). The adapters call it on
// the first invocation of an execution environment.
func (m *Monitor) ColdStart(ctx context.Context) {
	m.Count(ctx, "ColdStart", 1)
}

// Emit writes metrics on one line (or one per 100 metrics, CloudWatch's
// limit). Values given for the same name are written as one metric with
// several values. A metric with an invalid name (empty, longer than 255
// bytes, or a dimension or property name) or a NaN or infinite value is
// dropped with a warning.
func (m *Monitor) Emit(ctx context.Context, metrics ...Metric) {
	if m != nil {
		m.emit(ctx, m.now(), metrics)
	}
}

func (m *Monitor) emit(ctx context.Context, at time.Time, metrics []Metric) {
	var requestID string
	hasID := false
	if v, ok := logging.Lookup(ctx, logging.RequestIDKey); ok {
		requestID, hasID = v.String(), true
	}
	for len(metrics) > 0 {
		chunk := metrics[:min(len(metrics), maxMetrics)]
		metrics = metrics[len(chunk):]
		m.write(ctx, at, requestID, hasID, chunk)
	}
}

// metadata is the "_aws" member of a line. The root's other members are
// named at run time (dimensions, the request id, one per metric), so the
// root is a map.
type metadata struct {
	Timestamp         int64
	CloudWatchMetrics []directive
}

type directive struct {
	Namespace  string
	Dimensions [][]string
	Metrics    []definition
}

type definition struct {
	Name string
	Unit Unit
}

func (m *Monitor) write(ctx context.Context, at time.Time, requestID string, hasID bool, metrics []Metric) {
	root := make(map[string]any, len(metrics)+len(m.dims)+2)
	defs := make([]definition, 0, len(metrics))
	for _, mt := range metrics {
		if !m.valid(mt) {
			m.log.LogAttrs(ctx, slog.LevelWarn, "metric dropped",
				slog.String("metric", mt.Name), slog.Float64("value", mt.Value))
			continue
		}
		// Values given for one name are one metric with several values.
		switch v := root[mt.Name].(type) {
		case nil:
			unit := mt.Unit
			if unit == "" {
				unit = None
			}
			defs = append(defs, definition{Name: mt.Name, Unit: unit})
			root[mt.Name] = mt.Value
		case float64:
			root[mt.Name] = []float64{v, mt.Value}
		case []float64:
			root[mt.Name] = append(v, mt.Value)
		}
	}
	if len(defs) == 0 {
		return
	}
	// Metric names are never those of dimensions or the request id (valid).
	for _, d := range m.dims {
		root[d.name] = d.value
	}
	if hasID {
		root[logging.RequestIDKey] = requestID
	}
	root["_aws"] = metadata{Timestamp: at.UnixMilli(), CloudWatchMetrics: []directive{
		{Namespace: m.namespace, Dimensions: m.dimSets, Metrics: defs},
	}}

	// One Encode is one Write of the whole line and its newline. A new
	// encoder each time: an encoder keeps its first write error for good.
	m.mu.Lock()
	enc := json.NewEncoder(m.w)
	enc.SetEscapeHTML(false)
	err := enc.Encode(root)
	m.mu.Unlock()
	if err != nil {
		m.log.WarnContext(ctx, "metrics not written", "err", err)
	}
}

// valid reports whether mt can be written.
func (m *Monitor) valid(mt Metric) bool {
	return mt.Name != "" && len(mt.Name) <= maxName && !m.reserved(mt.Name) &&
		!math.IsNaN(mt.Value) && !math.IsInf(mt.Value, 0)
}

// reserved reports whether name is taken by a member of the line's root
// other than a metric.
func (m *Monitor) reserved(name string) bool {
	if name == "_aws" || name == logging.RequestIDKey {
		return true
	}
	for _, d := range m.dims {
		if d.name == name {
			return true
		}
	}
	return false
}
