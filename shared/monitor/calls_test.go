package monitor

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTransport(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		w.Write([]byte("body"))
	}))
	defer srv.Close()
	errDown := errors.New("connection refused")
	down := Transport(roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errDown }), func(*http.Request) string { return "svc.down" })
	up := Transport(nil, func(r *http.Request) string { return "svc." + r.URL.Path[1:] })

	tests := []struct {
		name    string
		rt      http.RoundTripper
		path    string
		status  int
		metrics map[string]float64 // name -> value; the duration's is 1 (ms, the fixture's step)
	}{
		{"ok", up, "/op", http.StatusOK, map[string]float64{"svc.op": 1}},
		{"4xx is the caller's", up, "/op", http.StatusNotFound, map[string]float64{"svc.op": 1}},
		{"5xx fails", up, "/op", http.StatusBadGateway, map[string]float64{"svc.op": 1, "svc.op.errors": 1}},
		{"429 fails", up, "/op", http.StatusTooManyRequests, map[string]float64{"svc.op": 1, "svc.op.errors": 1}},
		{"no response", down, "/op", 0, map[string]float64{"svc.down": 1, "svc.down.errors": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(time.Millisecond)
			status = tt.status
			req, _ := http.NewRequestWithContext(NewContext(context.Background(), f.m), http.MethodGet, srv.URL+tt.path, nil)
			res, err := tt.rt.RoundTrip(req)
			if tt.status == 0 {
				if err != errDown {
					t.Fatalf("error = %v; want the transport's own", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != tt.status {
					t.Errorf("status = %d; want %d", res.StatusCode, tt.status)
				}
			}
			got := map[string]float64{}
			for _, line := range lines(t, &f.metrics) {
				for name := range tt.metrics {
					if v, ok := line[name].(float64); ok {
						got[name] = v
					}
				}
			}
			for name, want := range tt.metrics {
				if got[name] != want {
					t.Errorf("metric %s = %v; want %v", name, got[name], want)
				}
			}
		})
	}

	// No monitor in the context: straight to the base transport.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/op", nil)
	if _, err := down.RoundTrip(req); err != errDown {
		t.Errorf("without a monitor: %v; want the transport's own error", err)
	}
}

func TestContext(t *testing.T) {
	if FromContext(context.Background()) != nil {
		t.Error("a monitor from an empty context")
	}
	m := Discard()
	if FromContext(NewContext(context.Background(), m)) != m {
		t.Error("the context's monitor is not the one put in")
	}
}

func TestTally(t *testing.T) {
	var nilTally *Tally
	nilTally.Add(time.Second)
	if n, d := nilTally.Total(); n != 0 || d != 0 {
		t.Errorf("nil tally: %d, %v", n, d)
	}
	ctx, tally := WithTally(context.Background())
	if TallyFrom(ctx) != tally {
		t.Fatal("the context's tally is not the one made")
	}
	if TallyFrom(context.Background()) != nil {
		t.Error("a tally from an empty context")
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { tally.Add(time.Millisecond) })
	}
	wg.Wait()
	n, d := tally.Total()
	if n != 10 {
		t.Errorf("calls = %d; want 10", n)
	}
	if d != 10*time.Millisecond {
		t.Errorf("duration = %v; want 10ms", d)
	}
	want := []Metric{{Name: "DatabaseTime", Unit: Milliseconds, Value: 10}, {Name: "DatabaseCalls", Unit: Count, Value: 10}}
	if diff := cmp.Diff(want, tally.Metrics("Database")); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	if m := nilTally.Metrics("Database"); m != nil {
		t.Errorf("metrics of no call: %v", m)
	}
}
