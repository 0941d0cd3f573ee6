package monitor

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"
)

// The adapters (an API request, a job message, an operation's run) put
// their function's Monitor in the context of the work they do, so that
// the clients the work calls through time their calls without carrying a
// Monitor of their own: Transport for HTTP, and a Tally for the database.

type monitorKey struct{}

// NewContext returns ctx carrying m, which Transport and FromContext find.
func NewContext(ctx context.Context, m *Monitor) context.Context {
	return context.WithValue(ctx, monitorKey{}, m)
}

// FromContext returns the Monitor ctx carries, or nil (which emits
// nothing) when it carries none.
func FromContext(ctx context.Context) *Monitor {
	m, _ := ctx.Value(monitorKey{}).(*Monitor)
	return m
}

// Transport returns an http.RoundTripper that times each request sent
// through base (http.DefaultTransport when nil) with the Track of the
// Monitor in the request's context, under the label label gives the
// request (such as "google.gmail"). The time is until the response's
// headers; a failure to get a response, or a 5xx or 429 status, counts as
// an error (label+".errors"). The response and error are base's,
// unchanged. Without a Monitor in the context the request goes straight
// to base.
func Transport(base http.RoundTripper, label func(*http.Request) string) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &timedTransport{base: base, label: label}
}

type timedTransport struct {
	base  http.RoundTripper
	label func(*http.Request) string
}

// errStatus marks a response whose status counts as a failed call.
var errStatus = errors.New("monitor: failure status")

func (t *timedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	m := FromContext(req.Context())
	if m == nil {
		return t.base.RoundTrip(req)
	}
	var res *http.Response
	var err error
	_ = m.Track(req.Context(), t.label(req), func(context.Context) error {
		res, err = t.base.RoundTrip(req)
		switch {
		case err != nil:
			return err
		case res.StatusCode >= 500 || res.StatusCode == http.StatusTooManyRequests:
			return errStatus
		}
		return nil
	})
	return res, err
}

// Tally sums the duration and number of calls made during one piece of
// work, such as the database queries of one request. It is safe for
// concurrent use; a nil *Tally adds nothing.
type Tally struct {
	n atomic.Int64
	d atomic.Int64 // time.Duration
}

type tallyKey struct{}

// WithTally returns ctx carrying a new Tally, and the Tally.
func WithTally(ctx context.Context) (context.Context, *Tally) {
	t := &Tally{}
	return context.WithValue(ctx, tallyKey{}, t), t
}

// TallyFrom returns the Tally ctx carries, or nil.
func TallyFrom(ctx context.Context) *Tally {
	t, _ := ctx.Value(tallyKey{}).(*Tally)
	return t
}

// Add counts one call of duration d.
func (t *Tally) Add(d time.Duration) {
	if t != nil {
		t.n.Add(1)
		t.d.Add(int64(d))
	}
}

// Total returns the number of calls and their summed duration.
func (t *Tally) Total() (n int64, d time.Duration) {
	if t == nil {
		return 0, 0
	}
	return t.n.Load(), time.Duration(t.d.Load())
}

// Metrics are the tally as the metrics name+"Time" (Milliseconds) and
// name+"Calls" (Count), or none when no call was counted.
func (t *Tally) Metrics(name string) []Metric {
	n, d := t.Total()
	if n == 0 {
		return nil
	}
	return []Metric{
		{Name: name + "Time", Unit: Milliseconds, Value: float64(d) / float64(time.Millisecond)},
		{Name: name + "Calls", Unit: Count, Value: float64(n)},
	}
}
