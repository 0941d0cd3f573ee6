package contacts_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/personalcrm/core/functions/routes/contacts"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/monitor"
	"github.com/personalcrm/core/shared/testkit"
)

// cachedServer serves the contact routes with sessions and contacts cached
// in c.
func cachedServer(t testing.TB, pool *db.Pool, c *cache.Cache) *api.Server {
	t.Helper()
	svc := contact.NewService(pool, contact.WithCache(c))
	return api.NewServer(api.Options{Sessions: auth.NewCachedSessions(auth.NewSessions(pool), c, auth.CacheOptions{Secret: []byte("test-auth-secret-of-at-least-32-characters")})},
		contacts.List(svc), contacts.Create(svc), contacts.Get(svc), contacts.Update(svc), contacts.Delete(svc))
}

func caches(t *testing.T) map[string]*cache.Cache {
	return map[string]*cache.Cache{
		"memory": cache.New(cache.NewMemory(0), cache.Options{}),
		"redis":  testkit.Redis(t, cache.Options{}),
	}
}

func getContact(t *testing.T, tr testkit.Transport, token, id string) (int, contacts.Contact) {
	t.Helper()
	res := tr.Do(t, testkit.Request("GET", "/v1/contacts/"+id, token, nil))
	var c contacts.Contact // an error envelope leaves it zero
	testkit.ReadJSON(t, res, &c)
	return res.StatusCode, c
}

func listNames(t *testing.T, tr testkit.Transport, token, query string) []string {
	t.Helper()
	res := tr.Do(t, testkit.Request("GET", "/v1/contacts"+query, token, nil))
	var p page
	raw := testkit.ReadJSON(t, res, &p)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("list: %d %s", res.StatusCode, raw)
	}
	var names []string
	for _, c := range p.Items {
		names = append(names, *c.Name)
	}
	return names
}

// Two users never see each other's cached contacts, though the cache holds
// both.
func TestCachedContactsIsolateUsers(t *testing.T) {
	t.Parallel()
	for name, c := range caches(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pool := testkit.DB(t)
			srv := cachedServer(t, pool, c)
			_, alice := testkit.User(t, pool, "alice@example.com")
			_, bob := testkit.User(t, pool, "bob@example.com")
			for _, tr := range testkit.Transports(srv) {
				t.Run(tr.Name, func(t *testing.T) {
					a := create(t, tr, srv, alice, map[string]any{"name": "Ada " + tr.Name})
					b := create(t, tr, srv, bob, map[string]any{"name": "Bea " + tr.Name})
					for i := 0; i < 3; i++ { // the first reads fill the cache, the later ones hit it
						if code, got := getContact(t, tr, alice, a.ID.String()); code != http.StatusOK || got.ID != a.ID {
							t.Fatalf("alice reads her own: %d %+v", code, got)
						}
						if code, _ := getContact(t, tr, bob, a.ID.String()); code != http.StatusNotFound {
							t.Fatalf("bob reads alice's cached contact: %d, want 404", code)
						}
						if code, got := getContact(t, tr, bob, b.ID.String()); code != http.StatusOK || got.ID != b.ID {
							t.Fatalf("bob reads his own: %d %+v", code, got)
						}
						if code, _ := getContact(t, tr, alice, b.ID.String()); code != http.StatusNotFound {
							t.Fatalf("alice reads bob's cached contact: %d, want 404", code)
						}
						for token, want := range map[string]string{alice: a.ID.String(), bob: b.ID.String()} {
							for _, n := range listNames(t, tr, token, "?limit=100") {
								if strings.HasPrefix(n, "Ada") != (want == a.ID.String()) {
									t.Fatalf("a list shows another user's contact %q", n)
								}
							}
						}
					}
				})
			}
		})
	}
}

// A write is visible on the very next read, however warm the cache.
func TestCachedContactsWritesInvalidate(t *testing.T) {
	t.Parallel()
	for name, c := range caches(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pool := testkit.DB(t)
			srv := cachedServer(t, pool, c)
			_, alice := testkit.User(t, pool, "alice@example.com")
			for _, tr := range testkit.Transports(srv) {
				t.Run(tr.Name, func(t *testing.T) {
					ct := create(t, tr, srv, alice, map[string]any{"name": "Grace " + tr.Name, "company": "Navy"})
					id := ct.ID.String()
					for i := 0; i < 3; i++ {
						getContact(t, tr, alice, id)
						listNames(t, tr, alice, "?q=grace")
					}

					res := tr.Do(t, testkit.Request("PATCH", "/v1/contacts/"+id, alice, map[string]any{"name": "Admiral " + tr.Name}))
					var upd contacts.Contact
					testkit.ReadJSON(t, res, &upd)
					if res.StatusCode != http.StatusOK {
						t.Fatalf("update: %d", res.StatusCode)
					}
					code, got := getContact(t, tr, alice, id)
					if code != http.StatusOK || *got.Name != "Admiral "+tr.Name {
						t.Fatalf("read after update: %d %+v", code, got)
					}
					if d := cmp.Diff(upd, got); d != "" {
						t.Fatalf("read after update differs from the update (-update +read):\n%s", d)
					}
					if names := listNames(t, tr, alice, "?q=grace"); len(names) != 0 {
						t.Fatalf("search after rename still finds %v", names)
					}
					if names := listNames(t, tr, alice, "?q=admiral+"+tr.Name); len(names) != 1 {
						t.Fatalf("search for the new name finds %v", names)
					}

					more := create(t, tr, srv, alice, map[string]any{"name": "Admiral Two " + tr.Name})
					if names := listNames(t, tr, alice, "?q=admiral+"); !contains(names, *more.Name) {
						t.Fatalf("list after create misses it: %v", names)
					}

					res = tr.Do(t, testkit.Request("DELETE", "/v1/contacts/"+id, alice, nil))
					testkit.ReadJSON(t, res, nil)
					if res.StatusCode != http.StatusNoContent {
						t.Fatalf("delete: %d", res.StatusCode)
					}
					if code, _ := getContact(t, tr, alice, id); code != http.StatusNotFound {
						t.Fatalf("read after delete: %d, want 404", code)
					}
				})
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) count(metric string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), fmt.Sprintf(`"Name":%q`, metric))
}

// Redis dies in the middle of use: requests keep succeeding from the
// database, writes stay visible, and once Redis is back the cache is used
// again.
func TestRedisKilledMidTest(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	redis := testkit.StartRedis(t)
	metrics, logs := &syncBuffer{}, &syncBuffer{}
	c, err := cache.Open(redis.URL(), cache.RedisOptions{}, cache.Options{
		Log:        logging.New(logs, nil),
		Monitor:    monitor.New(metrics, nil, "test", "contacts"),
		Timeout:    200 * time.Millisecond,
		RetryAfter: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := cachedServer(t, pool, c)
	_, alice := testkit.User(t, pool, "alice@example.com")
	trs := testkit.Transports(srv)
	ct := create(t, trs[0], srv, alice, map[string]any{"name": "Katherine"})
	id := ct.ID.String()

	read := func(phase, want string) {
		t.Helper()
		for _, tr := range trs {
			for i := 0; i < 3; i++ {
				code, got := getContact(t, tr, alice, id)
				if code != http.StatusOK || *got.Name != want {
					t.Fatalf("%s, %s read %d: %d %+v, want %q", phase, tr.Name, i, code, got, want)
				}
			}
		}
	}

	read("redis up", "Katherine")
	if metrics.count("CacheHit") == 0 {
		t.Fatal("no cache hit while Redis is up")
	}

	redis.Kill()
	read("redis killed", "Katherine")
	res := trs[1].Do(t, testkit.Request("PATCH", "/v1/contacts/"+id, alice, map[string]any{"name": "Katherine Johnson"}))
	if raw := testkit.ReadJSON(t, res, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("update with Redis killed: %d %s", res.StatusCode, raw)
	}
	read("redis killed, after update", "Katherine Johnson")
	if metrics.count("CacheError") == 0 || !strings.Contains(logs.String(), "cache unavailable") {
		t.Fatalf("the failure was neither counted nor logged:\n%s", logs.String())
	}

	redis.Restart()
	hits := metrics.count("CacheHit")
	deadline := time.Now().Add(10 * time.Second)
	for metrics.count("CacheHit") == hits {
		if time.Now().After(deadline) {
			t.Fatal("the cache did not come back within 10s of Redis restarting")
		}
		read("redis restarted", "Katherine Johnson")
		time.Sleep(10 * time.Millisecond)
	}
	read("redis back", "Katherine Johnson")
}

// TestReadAheadAcrossInstances: two servers with their own Redis clients
// on one Redis, as two Lambda instances are. A cached GET in instance A
// reads the session and the contact in one round trip, and still never
// serves a contact changed, or a session revoked, through instance B once
// B's write has returned.
func TestReadAheadAcrossInstances(t *testing.T) {
	pool := testkit.DB(t)
	prefix := testkit.RedisPrefix(t)
	open := func() (*cache.Cache, *redisCount) {
		b, err := cache.NewRedis(testkit.RedisURL(), cache.RedisOptions{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		count := &redisCount{}
		b.Client().AddHook(count)
		c := cache.New(b, cache.Options{Prefix: prefix})
		t.Cleanup(func() { c.Close() })
		return c, count
	}
	cacheA, countA := open()
	cacheB, _ := open()
	secret := auth.CacheOptions{Secret: []byte("test-auth-secret-of-at-least-32-characters")}
	sessionsB := auth.NewCachedSessions(auth.NewSessions(pool), cacheB, secret)
	a, b := cachedServer(t, pool, cacheA), cachedServer(t, pool, cacheB)
	userID, token := testkit.User(t, pool, "two-instances@example.com")
	trA, trB := testkit.Transports(a)[1], testkit.Transports(b)[1]

	res := trB.Do(t, testkit.Request("POST", "/v1/contacts", token, map[string]any{"name": "Before"}))
	var created contacts.Contact
	if raw := testkit.ReadJSON(t, res, &created); res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", res.StatusCode, raw)
	}
	id := created.ID.String()
	for range 3 { // fill the cache; A learns whose the token is
		if code, c := getContact(t, trA, token, id); code != http.StatusOK || *c.Name != "Before" {
			t.Fatalf("A: %d %v", code, c.Name)
		}
	}
	before := countA.n.Load()
	if code, _ := getContact(t, trA, token, id); code != http.StatusOK {
		t.Fatalf("A: %d", code)
	}
	if n := countA.n.Load() - before; n != 1 {
		t.Errorf("a cached GET made %d round trips to Redis, want 1", n)
	}
	// The web app's session cookie is read ahead too.
	r := testkit.Request("GET", "/v1/contacts/"+id, "", nil)
	r.Header.Set("Cookie", "crm_session="+token)
	before = countA.n.Load()
	if res := trA.Do(t, r); res.StatusCode != http.StatusOK {
		t.Fatalf("A, by cookie: %d", res.StatusCode)
	}
	if n := countA.n.Load() - before; n != 1 {
		t.Errorf("a cached GET by cookie made %d round trips to Redis, want 1", n)
	}

	res = trB.Do(t, testkit.Request("PATCH", "/v1/contacts/"+id, token, map[string]any{"name": "After"}))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("B: update: %d", res.StatusCode)
	}
	if code, c := getContact(t, trA, token, id); code != http.StatusOK || c.Name == nil || *c.Name != "After" {
		t.Fatalf("A after B's update: %d %v, want After", code, c.Name)
	}

	if _, err := sessionsB.RevokeAll(t.Context(), userID); err != nil {
		t.Fatal(err)
	}
	if code, _ := getContact(t, trA, token, id); code != http.StatusUnauthorized {
		t.Fatalf("A after B revoked the session: %d, want 401", code)
	}
}

// redisCount counts the commands and pipelines a go-redis client sends:
// its round trips.
type redisCount struct{ n atomic.Int64 }

func (r *redisCount) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *redisCount) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmd)
	}
}

func (r *redisCount) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmds)
	}
}
