package system_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/personalcrm/core/functions/routes/system"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/health"
	"github.com/personalcrm/core/shared/monitor"
	"github.com/personalcrm/core/shared/ratelimit"
	"github.com/personalcrm/core/shared/testkit"
)

func TestHealth(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	database := health.Check{Name: "database", Required: true, Run: func(ctx context.Context) error { return db.Ping(ctx, pool) }}
	cacheDown := health.Check{Name: "cache", Run: func(context.Context) error { return errors.New("dial tcp 10.1.2.3:6379: refused") }}
	dbDown := health.Check{Name: "database", Required: true, Run: func(context.Context) error { return errors.New("password authentication failed for user crm") }}
	queue := health.Check{Name: "queue", Run: func(context.Context) error { return nil },
		Facts: func(context.Context) (map[string]float64, error) {
			return map[string]float64{"email-sync.deadLetters": 7}, nil
		}}

	tests := []struct {
		name   string
		checks []health.Check
		status int
		report string
		down   string
	}{
		{"healthy", []health.Check{database, queue}, 200, "healthy", ""},
		{"optional cache down", []health.Check{database, cacheDown, queue}, 200, "degraded", "cache"},
		{"database down", []health.Check{dbDown, cacheDown}, 503, "unhealthy", "database"},
	}
	for _, tt := range tests {
		srv := api.NewServer(api.Options{}, system.Health(system.Deps{Checks: tt.checks}))
		for _, tr := range testkit.Transports(srv) {
			t.Run(tr.Name+"/"+tt.name, func(t *testing.T) {
				res := tr.Do(t, testkit.Request("GET", "/health", "", nil))
				var rep health.Public
				raw := testkit.ReadJSON(t, res, &rep)
				if res.StatusCode != tt.status || rep.Status != tt.report {
					t.Fatalf("got %d %s", res.StatusCode, raw)
				}
				if tt.down != "" && rep.Checks[tt.down].Status != health.Down {
					t.Errorf("%s not reported down: %s", tt.down, raw)
				}
				if res.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("health answers may be cached: %q", res.Header.Get("Cache-Control"))
				}
				for _, secret := range []string{"10.1.2.3", "password", "crm"} {
					if contains(raw, secret) {
						t.Errorf("the public report shows %q: %s", secret, raw)
					}
				}
				// The public answer is the status and each check's up or
				// down, nothing more: no latencies, no queue depths.
				var shape map[string]any
				if err := json.Unmarshal(raw, &shape); err != nil {
					t.Fatal(err)
				}
				want := map[string]any{"status": tt.report, "checks": map[string]any{}}
				for _, c := range tt.checks {
					want["checks"].(map[string]any)[c.Name] = map[string]any{"status": rep.Checks[c.Name].Status}
				}
				if d := cmp.Diff(want, shape); d != "" {
					t.Errorf("public report (-want +got):\n%s", d)
				}
			})
		}
	}
}

// TestHealthRunsChecksOncePerPeriod: however many requests come, and
// however many at once, the checks run once per period in an instance,
// and each run's figures reach the operators' metrics. It runs in a
// synctest bubble: the period passes on the fake clock.
func TestHealthRunsChecksOncePerPeriod(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var runs, factRuns atomic.Int32
		release := make(chan struct{})
		checks := []health.Check{
			{Name: "database", Required: true, Run: func(context.Context) error {
				runs.Add(1)
				<-release
				return nil
			}},
			{Name: "queue", Run: func(context.Context) error { return nil }, Facts: func(context.Context) (map[string]float64, error) {
				factRuns.Add(1)
				return map[string]float64{"email-sync.queued": 4, "email-sync.deadLetters": 2}, nil
			}},
		}
		metrics := &testkit.Buffer{}
		mon := monitor.New(metrics, nil, "PersonalCRM", catalog.Health)
		srv := api.NewServer(api.Options{}, system.Health(system.Deps{Monitor: mon, Checks: checks, Every: 5 * time.Second}))
		get := func() int {
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, testkit.Request("GET", "/health", "", nil))
			return rec.Code
		}

		// Twenty requests at once while the first run is under way share it.
		var wg sync.WaitGroup
		codes := make([]int, 20)
		for i := range codes {
			wg.Go(func() { codes[i] = get() })
		}
		synctest.Wait() // the first run is under way, the others wait for it
		if runs.Load() != 1 {
			t.Fatalf("checks ran %d times with twenty requests at once, want once", runs.Load())
		}
		close(release)
		wg.Wait()
		for i := 0; i < 50; i++ {
			codes = append(codes, get())
		}
		time.Sleep(4 * time.Second)
		codes = append(codes, get())
		for i, c := range codes {
			if c != http.StatusOK {
				t.Fatalf("request %d: %d", i, c)
			}
		}
		if runs.Load() != 1 || factRuns.Load() != 1 {
			t.Fatalf("checks ran %d times (facts %d) within the period, want once", runs.Load(), factRuns.Load())
		}
		time.Sleep(2 * time.Second)
		get()
		if runs.Load() != 2 {
			t.Fatalf("checks ran %d times after the period, want twice", runs.Load())
		}

		// Each run emitted its figures: what the public answer leaves out.
		lines := strings.Split(strings.TrimSpace(metrics.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("%d metric lines for 2 runs:\n%s", len(lines), metrics)
		}
		var line map[string]any
		if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]float64{"health.queue.email-sync.queued": 4, "health.queue.email-sync.deadLetters": 2, "health.database.down": 0, "health.queue.down": 0} {
			if got, ok := line[name].(float64); !ok || got != want {
				t.Errorf("metric %s = %v, want %v:\n%s", name, line[name], want, lines[0])
			}
		}
		if _, ok := line["health.database.latencyMs"].(float64); !ok {
			t.Errorf("no database latency metric:\n%s", lines[0])
		}
	})
}

// TestHealthRateLimitedPerIP: the public route is limited per client IP.
func TestHealthRateLimitedPerIP(t *testing.T) {
	t.Parallel()
	fn := catalog.MustLookup(catalog.Health)
	if fn.Limit == nil {
		t.Fatal("GET /health has no rate limit in the catalog")
	}
	limiter := ratelimit.New(cache.New(cache.NewMemory(0), cache.Options{}), nil, nil)
	srv := api.NewServer(api.Options{Limiter: limiter}, system.Health(system.Deps{}))
	get := func(ip string) *http.Response {
		r := testkit.Request("GET", "/health", "", nil)
		r.RemoteAddr = ip + ":40000"
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		return rec.Result()
	}
	burst := ratelimit.Rate(*fn.Limit).Burst
	for i := 0; i < burst; i++ {
		if res := get("203.0.113.7"); res.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d", i+1, res.StatusCode)
		}
	}
	res := get("203.0.113.7")
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("request %d from one address: %d, want 429 with Retry-After", burst+1, res.StatusCode)
	}
	if res := get("203.0.113.8"); res.StatusCode != http.StatusOK {
		t.Fatalf("another address: %d", res.StatusCode)
	}
}

func contains(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }
