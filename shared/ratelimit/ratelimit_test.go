package ratelimit_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/ratelimit"
	"github.com/personalcrm/core/shared/testkit"
)

// limit is small so that a test reaches it: 3 calls a minute, one earned
// back every 20 seconds.
var limit = catalog.Limit{Requests: 3, Per: time.Minute}

type out struct {
	Body struct {
		OK bool `json:"ok"`
	}
}

// server serves a signed route (contacts-get) and a public one (health),
// both under limit.
func server(t *testing.T, c *cache.Cache, log *slog.Logger, pool *db.Pool) *api.Server {
	t.Helper()
	h := func(ctx context.Context, in *struct {
		ID uuid.UUID `path:"id"`
	}) (*out, error) {
		o := &out{}
		o.Body.OK = true
		return o, nil
	}
	signed := api.Handle(catalog.ContactsGet, h)
	signed.Function.Limit = &limit
	public := api.Handle(catalog.Health, func(ctx context.Context, _ *struct{}) (*out, error) {
		o := &out{}
		o.Body.OK = true
		return o, nil
	})
	public.Function.Limit = &limit
	return api.NewServer(api.Options{
		Sessions: auth.NewSessions(pool),
		Limiter:  ratelimit.New(c, log, nil),
	}, signed, public)
}

type envelope struct {
	Error struct {
		Code       string `json:"code"`
		RetryAfter int    `json:"retryAfter"`
	} `json:"error"`
}

func backends(t *testing.T) map[string]*cache.Cache {
	return map[string]*cache.Cache{
		"memory": cache.New(cache.NewMemory(0), cache.Options{}),
		"redis":  testkit.Redis(t, cache.Options{}),
	}
}

func TestSignedRouteLimitedPerUser(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	for name, c := range backends(t) {
		srv := server(t, c, nil, pool)
		for _, tr := range testkit.Transports(srv) {
			t.Run(name+"/"+tr.Name, func(t *testing.T) {
				_, alice := testkit.User(t, pool, uuid.NewString()+"@example.com")
				_, bob := testkit.User(t, pool, uuid.NewString()+"@example.com")
				path := "/v1/contacts/" + uuid.NewString()
				for i := 1; i <= limit.Requests; i++ {
					res := tr.Do(t, testkit.Request("GET", path, alice, nil))
					if raw := testkit.ReadJSON(t, res, nil); res.StatusCode != http.StatusOK {
						t.Fatalf("request %d: %d %s", i, res.StatusCode, raw)
					}
				}
				res := tr.Do(t, testkit.Request("GET", path, alice, nil))
				var env envelope
				raw := testkit.ReadJSON(t, res, &env)
				if res.StatusCode != http.StatusTooManyRequests || env.Error.Code != api.CodeRateLimit {
					t.Fatalf("request %d: %d %s; want 429 RATE_LIMIT", limit.Requests+1, res.StatusCode, raw)
				}
				// The next call is earned back 20s after the first.
				if env.Error.RetryAfter != 20 || res.Header.Get("Retry-After") != "20" {
					t.Fatalf("retryAfter %d, Retry-After %q; want 20", env.Error.RetryAfter, res.Header.Get("Retry-After"))
				}
				res = tr.Do(t, testkit.Request("GET", path, bob, nil))
				if raw := testkit.ReadJSON(t, res, nil); res.StatusCode != http.StatusOK {
					t.Fatalf("another user is limited too: %d %s", res.StatusCode, raw)
				}
			})
		}
	}
}

func TestPublicRouteLimitedPerIP(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	for name, c := range backends(t) {
		srv := server(t, c, nil, pool)
		send := map[string]func(ip string) *http.Response{
			"http": func(ip string) *http.Response {
				r := testkit.Request("GET", "/health", "", nil)
				r.RemoteAddr = ip + ":51234"
				w := httptest.NewRecorder()
				srv.ServeHTTP(w, r)
				return w.Result()
			},
			"apigw": func(ip string) *http.Response {
				ev := testkit.Event(t, testkit.Request("GET", "/health", "", nil))
				ev.RequestContext.HTTP.SourceIP = ip
				return testkit.Response(t, srv.ServeEvent(context.Background(), ev))
			},
		}
		for trName, do := range send {
			t.Run(name+"/"+trName, func(t *testing.T) {
				ip, other := testIP(), testIP()
				for i := 1; i <= limit.Requests; i++ {
					if res := do(ip); res.StatusCode != http.StatusOK {
						t.Fatalf("request %d: %d", i, res.StatusCode)
					}
				}
				res := do(ip)
				var env envelope
				raw := testkit.ReadJSON(t, res, &env)
				if res.StatusCode != http.StatusTooManyRequests || env.Error.Code != api.CodeRateLimit || res.Header.Get("Retry-After") != "20" {
					t.Fatalf("request %d: %d %s (Retry-After %q); want 429 RATE_LIMIT after 20s", limit.Requests+1, res.StatusCode, raw, res.Header.Get("Retry-After"))
				}
				if res := do(other); res.StatusCode != http.StatusOK {
					t.Fatalf("another client is limited too: %d", res.StatusCode)
				}
			})
		}
	}
}

var (
	ipMu sync.Mutex
	ipN  = 1
)

// testIP returns a new address of the documentation range 198.51.100.0/24.
func testIP() string {
	ipMu.Lock()
	defer ipMu.Unlock()
	ipN++
	return "198.51.100." + itoa(ipN)
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestFailsOpenWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	redis := testkit.StartRedis(t)
	logs := &testkit.Buffer{}
	c, err := cache.Open(redis.URL(), cache.RedisOptions{}, cache.Options{Timeout: 200 * time.Millisecond, RetryAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := server(t, c, logging.New(logs, nil), pool)
	_, token := testkit.User(t, pool, "carol@example.com")
	redis.Kill()
	for _, tr := range testkit.Transports(srv) {
		for i := 0; i < limit.Requests*3; i++ {
			res := tr.Do(t, testkit.Request("GET", "/v1/contacts/"+uuid.NewString(), token, nil))
			if raw := testkit.ReadJSON(t, res, nil); res.StatusCode != http.StatusOK {
				t.Fatalf("%s request %d with Redis down: %d %s", tr.Name, i+1, res.StatusCode, raw)
			}
		}
	}
	if !strings.Contains(logs.String(), "rate limit not enforced") {
		t.Fatalf("the log does not say limits are off:\n%s", logs)
	}
}

// TestCostBearingRouteFailsClosedWhenRedisIsDown: with Redis killed, a
// route the catalog marks cost-bearing (emails-sync) is refused with 503
// and when to retry, its handler never running, while other routes go on
// unlimited.
func TestCostBearingRouteFailsClosedWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	if !catalog.MustLookup(catalog.EmailsSync).CostBearing {
		t.Fatal("emails-sync is not marked cost-bearing in the catalog")
	}
	pool := testkit.DB(t)
	redis := testkit.StartRedis(t)
	logs := &testkit.Buffer{}
	c, err := cache.Open(redis.URL(), cache.RedisOptions{}, cache.Options{Timeout: 200 * time.Millisecond, RetryAfter: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var synced atomic.Int32 // calls that reached the handler
	syncRoute := api.Handle(catalog.EmailsSync, func(ctx context.Context, _ *struct{}) (*out, error) {
		synced.Add(1)
		o := &out{}
		o.Body.OK = true
		return o, nil
	})
	get := api.Handle(catalog.ContactsGet, func(ctx context.Context, _ *struct {
		ID uuid.UUID `path:"id"`
	}) (*out, error) {
		return &out{}, nil
	})
	srv := api.NewServer(api.Options{Sessions: auth.NewSessions(pool), Limiter: ratelimit.New(c, logging.New(logs, nil), nil)}, syncRoute, get)
	_, token := testkit.User(t, pool, "dora@example.com")
	for _, tr := range testkit.Transports(srv) {
		if res := tr.Do(t, testkit.Request("POST", "/v1/emails/sync", token, nil)); res.StatusCode != http.StatusOK {
			t.Fatalf("%s: with Redis up: %d", tr.Name, res.StatusCode)
		}
	}
	ran := synced.Load()

	redis.Kill()
	for _, tr := range testkit.Transports(srv) {
		for i := 0; i < 3; i++ {
			res := tr.Do(t, testkit.Request("POST", "/v1/emails/sync", token, nil))
			var env envelope
			raw := testkit.ReadJSON(t, res, &env)
			if res.StatusCode != http.StatusServiceUnavailable || env.Error.Code != api.CodeUnavailable ||
				env.Error.RetryAfter != 3 || res.Header.Get("Retry-After") != "3" {
				t.Fatalf("%s: cost-bearing route with Redis down: %d %s (Retry-After %q); want 503 UNAVAILABLE, retry after 3s",
					tr.Name, res.StatusCode, raw, res.Header.Get("Retry-After"))
			}
			res = tr.Do(t, testkit.Request("GET", "/v1/contacts/"+uuid.NewString(), token, nil))
			if raw := testkit.ReadJSON(t, res, nil); res.StatusCode != http.StatusOK {
				t.Fatalf("%s: other route with Redis down: %d %s", tr.Name, res.StatusCode, raw)
			}
		}
	}
	if n := synced.Load() - ran; n != 0 {
		t.Fatalf("the cost-bearing handler ran %d times with Redis down", n)
	}
}
