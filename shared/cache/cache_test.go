package cache_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/monitor"
	"github.com/personalcrm/core/shared/testkit"
)

// backends runs a test against every Backend: the contract suite.
var backends = []struct {
	name string
	open func(t *testing.T, o cache.Options) *cache.Cache
}{
	{"memory", func(t *testing.T, o cache.Options) *cache.Cache { return cache.New(cache.NewMemory(0), o) }},
	{"redis", func(t *testing.T, o cache.Options) *cache.Cache { return testkit.Redis(t, o) }},
	// A cluster-mode endpoint, as ElastiCache Serverless is: every command
	// must stay within one hash slot.
	{"cluster", func(t *testing.T, o cache.Options) *cache.Cache { return testkit.StartRedisCluster(t).Cache(t, o) }},
}

func eachBackend(t *testing.T, test func(t *testing.T, c *cache.Cache)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			test(t, b.open(t, cache.Options{}))
		})
	}
}

// loader counts its calls and returns the value it holds.
type loader struct {
	calls atomic.Int32
	mu    sync.Mutex
	value string
}

func (l *loader) set(v string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.value = v
}

func (l *loader) load(context.Context) (string, error) {
	l.calls.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.value, nil
}

func get(t *testing.T, c *cache.Cache, s cache.Scope, key string, ttl time.Duration, l *loader) string {
	t.Helper()
	v, err := cache.GetOrLoad(context.Background(), c, s, key, ttl, l.load)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// warm reads key until it is served from the cache: a scope without a
// version takes one extra load to create it.
func warm(t *testing.T, c *cache.Cache, s cache.Scope, key string, ttl time.Duration, l *loader) {
	t.Helper()
	for i := 0; i < 3; i++ {
		before := l.calls.Load()
		get(t, c, s, key, ttl, l)
		if l.calls.Load() == before {
			return
		}
	}
	t.Fatalf("%s is still loaded after 3 reads", key)
}

func userScope() cache.Scope { return cache.Scope{Name: "things", Owner: uuid.NewString()} }

func TestContractHitAfterLoad(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, c *cache.Cache) {
		for _, s := range []cache.Scope{{}, userScope()} {
			l := &loader{value: "v1"}
			key := cache.Key("hit", uuid.New())
			warm(t, c, s, key, time.Minute, l)
			calls := l.calls.Load()
			if calls > 2 {
				t.Fatalf("scope %+v: %d loads before the first hit, want at most 2", s, calls)
			}
			for i := 0; i < 5; i++ {
				if v := get(t, c, s, key, time.Minute, l); v != "v1" {
					t.Fatalf("got %q, want v1", v)
				}
			}
			if l.calls.Load() != calls {
				t.Fatalf("scope %+v: loaded %d more times while cached", s, l.calls.Load()-calls)
			}
		}
	})
}

func TestContractTTLExpiry(t *testing.T) {
	t.Parallel()
	const ttl = time.Second
	// The memory backend keeps its TTLs on the process's clock, which in a
	// bubble is fake: the entry expires without the test waiting.
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			c := cache.New(cache.NewMemory(0), cache.Options{})
			s := userScope()
			l := &loader{value: "v1"}
			key := cache.Key("ttl")
			warm(t, c, s, key, ttl, l)
			calls := l.calls.Load()
			time.Sleep(ttl)
			get(t, c, s, key, ttl, l)
			if l.calls.Load() == calls {
				t.Fatalf("entry with a TTL of %s still served after it", ttl)
			}
		})
	})
	// Redis keeps them on its own clock, which only waiting moves.
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		c := testkit.Redis(t, cache.Options{})
		s := userScope()
		l := &loader{value: "v1"}
		key := cache.Key("ttl")
		warm(t, c, s, key, ttl, l)
		calls := l.calls.Load()
		deadline := time.Now().Add(10 * time.Second)
		for l.calls.Load() == calls {
			if time.Now().After(deadline) {
				t.Fatalf("entry with a TTL of %s still served after 10s", ttl)
			}
			time.Sleep(50 * time.Millisecond)
			get(t, c, s, key, ttl, l)
		}
	})
}

func TestContractDelete(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, c *cache.Cache) {
		l := &loader{value: "v1"}
		key := cache.Key("delete", uuid.New())
		warm(t, c, cache.Scope{}, key, time.Minute, l)
		l.set("v2")
		c.Delete(context.Background(), cache.Scope{}, key)
		if v := get(t, c, cache.Scope{}, key, time.Minute, l); v != "v2" {
			t.Fatalf("after delete got %q, want v2", v)
		}
	})
}

func TestContractInvalidateScope(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, c *cache.Cache) {
		alice, bob := userScope(), userScope()
		a1, a2, b1 := &loader{value: "a1"}, &loader{value: "a2"}, &loader{value: "b1"}
		warm(t, c, alice, "one", time.Minute, a1)
		warm(t, c, alice, "two", time.Minute, a2)
		warm(t, c, bob, "one", time.Minute, b1)
		a1.set("a1-new")
		a2.set("a2-new")
		b1.set("b1-new")

		c.Invalidate(context.Background(), alice)

		if v := get(t, c, alice, "one", time.Minute, a1); v != "a1-new" {
			t.Fatalf("alice one after invalidation: %q", v)
		}
		if v := get(t, c, alice, "two", time.Minute, a2); v != "a2-new" {
			t.Fatalf("alice two after invalidation: %q", v)
		}
		if v := get(t, c, bob, "one", time.Minute, b1); v != "b1" {
			t.Fatalf("bob's entry changed by alice's invalidation: %q", v)
		}
	})
}

func TestContractScopesIsolateOwners(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, c *cache.Cache) {
		alice, bob := userScope(), userScope()
		al, bl := &loader{value: "alice's"}, &loader{value: "bob's"}
		key := cache.Key("get", uuid.New()) // the same key in both scopes
		warm(t, c, alice, key, time.Minute, al)
		warm(t, c, bob, key, time.Minute, bl)
		if v := get(t, c, alice, key, time.Minute, al); v != "alice's" {
			t.Fatalf("alice reads %q", v)
		}
		if v := get(t, c, bob, key, time.Minute, bl); v != "bob's" {
			t.Fatalf("bob reads %q", v)
		}
	})
}

// A value loaded before an invalidation must not be served after it, even
// when it is stored after it.
func TestContractLoadRacingInvalidation(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, c *cache.Cache) {
		ctx := context.Background()
		s := userScope()
		l := &loader{value: "old"}
		warm(t, c, s, "other", time.Minute, l) // the scope has a version now
		v, err := cache.GetOrLoad(ctx, c, s, "racy", time.Minute, func(ctx context.Context) (string, error) {
			// The write lands while this read is loading.
			c.Invalidate(ctx, s)
			return "old", nil
		})
		if err != nil {
			t.Fatalf("%v", err)
		}
		if v != "old" {
			t.Fatalf("got %q, want old", v)
		}
		fresh := &loader{value: "new"}
		if v := get(t, c, s, "racy", time.Minute, fresh); v != "new" {
			t.Fatalf("after the write, read %q: a value loaded before it was served", v)
		}
	})
}

func TestContractSingleFlight(t *testing.T) {
	t.Parallel()
	// In a bubble, synctest.Wait returns once every caller waits in the
	// flight.
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			testSingleFlight(t, cache.New(cache.NewMemory(0), cache.Options{}), synctest.Wait)
		})
	})
	// go-redis cannot run in a bubble (its connection pool reuses timers
	// across goroutines): the callers are given time to reach the flight.
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		testSingleFlight(t, testkit.Redis(t, cache.Options{}), func() { time.Sleep(100 * time.Millisecond) })
	})
}

// testSingleFlight checks that concurrent misses of a key load it once;
// settle returns when the callers have reached the flight.
func testSingleFlight(t *testing.T, c *cache.Cache, settle func()) {
	s := userScope()
	warm(t, c, s, "version", time.Minute, &loader{value: "x"})
	var calls atomic.Int32
	release := make(chan struct{})
	load := func(context.Context) (string, error) {
		calls.Add(1)
		<-release
		return "shared", nil
	}
	const n = 20
	var started, wg sync.WaitGroup
	started.Add(n)
	wg.Add(n)
	results := make([]string, n)
	for i := range n {
		go func() {
			defer wg.Done()
			started.Done()
			v, err := cache.GetOrLoad(context.Background(), c, s, "hot", time.Minute, load)
			if err != nil {
				t.Error(err)
			}
			results[i] = v
		}()
	}
	started.Wait()
	settle()
	close(release)
	wg.Wait()
	if got := calls.Load(); got != 1 {
		t.Fatalf("%d concurrent misses loaded %d times, want once", n, got)
	}
	for i, v := range results {
		if v != "shared" {
			t.Fatalf("caller %d got %q", i, v)
		}
	}
}

func TestContractLoadErrorIsReturnedAndNotCached(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, c *cache.Cache) {
		s := userScope()
		warm(t, c, s, "version", time.Minute, &loader{value: "x"})
		boom := errors.New("boom")
		_, err := cache.GetOrLoad(context.Background(), c, s, "k", time.Minute, func(context.Context) (string, error) { return "", boom })
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want the load's error", err)
		}
		if v := get(t, c, s, "k", time.Minute, &loader{value: "ok"}); v != "ok" {
			t.Fatalf("after a failed load got %q", v)
		}
	})
}

func TestContractRateLimit(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, c *cache.Cache) {
		ctx := context.Background()
		r := cache.Rate{Requests: 3, Per: time.Minute, Burst: 3}
		key := "route:u:" + uuid.NewString()
		for i := range 3 {
			d, err := c.Allow(ctx, key, r)
			if err != nil {
				t.Fatalf("request %d: %v", i+1, err)
			}
			if !d.Allowed {
				t.Fatalf("request %d: %+v, want allowed", i+1, d)
			}
			if d.Remaining != 2-i {
				t.Fatalf("request %d: remaining %d, want %d", i+1, d.Remaining, 2-i)
			}
		}
		d, err := c.Allow(ctx, key, r)
		if err != nil {
			t.Fatalf("request 4: %v", err)
		}
		if d.Allowed {
			t.Fatalf("request 4: %+v, want denied", d)
		}
		// One request is earned back every 20s.
		if d.RetryAfter <= 15*time.Second || d.RetryAfter > 20*time.Second {
			t.Fatalf("retry after %s, want just under 20s", d.RetryAfter)
		}
		other, err := c.Allow(ctx, "route:u:"+uuid.NewString(), r)
		if err != nil {
			t.Fatalf("another caller: %v", err)
		}
		if !other.Allowed {
			t.Fatalf("another caller: %+v, want allowed", other)
		}
	})
}

func TestKey(t *testing.T) {
	id := uuid.MustParse("0192a000-0000-7000-8000-000000000001")
	if got, want := cache.Key("get", id), "get:0192a000-0000-7000-8000-000000000001"; got != want {
		t.Fatalf("Key = %q, want %q", got, want)
	}
	if got, want := cache.Key("list", 20, true, nil), "list:20:true:-"; got != want {
		t.Fatalf("Key = %q, want %q", got, want)
	}
	text := cache.Key("search", "grace hopper@navy.mil")
	if strings.Contains(text, "grace") || !strings.HasPrefix(text, "search:#") {
		t.Fatalf("free text must be hashed: %q", text)
	}
	if cache.Key("search", "a", "b:c") == cache.Key("search", "a:b", "c") {
		t.Fatal("different arguments give the same key")
	}
}

// flaky is a backend that fails or hangs on demand, counting the calls that
// reach it.
type flaky struct {
	cache.Backend
	mode  atomic.Int32 // 0 works, 1 fails at once, 2 hangs until the deadline
	calls atomic.Int32
}

func (f *flaky) gate(ctx context.Context) error {
	f.calls.Add(1)
	switch f.mode.Load() {
	case 1:
		return errors.New("connection refused")
	case 2:
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (f *flaky) Get(ctx context.Context, keys ...string) ([][]byte, error) {
	if err := f.gate(ctx); err != nil {
		return nil, err
	}
	return f.Backend.Get(ctx, keys...)
}

func (f *flaky) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if err := f.gate(ctx); err != nil {
		return err
	}
	return f.Backend.Set(ctx, key, v, ttl)
}

func (f *flaky) SetNX(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if err := f.gate(ctx); err != nil {
		return err
	}
	return f.Backend.SetNX(ctx, key, v, ttl)
}

func (f *flaky) Delete(ctx context.Context, keys ...string) error {
	if err := f.gate(ctx); err != nil {
		return err
	}
	return f.Backend.Delete(ctx, keys...)
}

func (f *flaky) Allow(ctx context.Context, key string, r cache.Rate) (cache.Decision, error) {
	if err := f.gate(ctx); err != nil {
		return cache.Decision{}, err
	}
	return f.Backend.Allow(ctx, key, r)
}

func metricCount(out, name string) int {
	return strings.Count(out, fmt.Sprintf(`"Name":%q`, name))
}

func TestDeadCacheDegrades(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name string
		mode int32
	}{{"refused", 1}, {"hanging", 2}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			logs, metrics := &testkit.Buffer{}, &testkit.Buffer{}
			f := &flaky{Backend: cache.NewMemory(0)}
			c := cache.New(f, cache.Options{
				Log:        logging.New(logs, nil),
				Monitor:    monitor.New(metrics, nil, "test", "cache-test"),
				Timeout:    20 * time.Millisecond,
				RetryAfter: time.Hour, // stays open for the whole test
			})
			s := userScope()
			l := &loader{value: "from the database"}
			warm(t, c, s, "k", time.Minute, l)

			f.mode.Store(mode.mode)
			before := f.calls.Load()
			for i := 0; i < 10; i++ {
				if v := get(t, c, s, "k", time.Minute, l); v != "from the database" {
					t.Fatalf("request %d: %q", i, v)
				}
				c.Invalidate(context.Background(), s)
			}
			if got := f.calls.Load() - before; got != 1 {
				t.Fatalf("the cache was tried %d times, want once before the breaker opened", got)
			}
			if _, err := c.Allow(context.Background(), "k", cache.Rate{Requests: 1, Per: time.Second, Burst: 1}); !errors.Is(err, cache.ErrSkipped) {
				t.Fatalf("Allow with the cache down: %v, want ErrSkipped", err)
			}
			out := metrics.String()
			if metricCount(out, "CacheError") != 1 || metricCount(out, "CacheSkipped") < 10 {
				t.Fatalf("metrics: %d CacheError, %d CacheSkipped:\n%s", metricCount(out, "CacheError"), metricCount(out, "CacheSkipped"), out)
			}
			if !strings.Contains(logs.String(), `"msg":"cache error"`) || !strings.Contains(logs.String(), "cache unavailable") {
				t.Fatalf("logs say nothing of the failure:\n%s", logs)
			}
		})
	}
}

// The circuit breaker times its pause on the process's clock: in a bubble
// the test takes no wall time.
func TestCacheComesBackAndReplaysInvalidations(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := &flaky{Backend: cache.NewMemory(0)}
		c := cache.New(f, cache.Options{Timeout: 20 * time.Millisecond, RetryAfter: 10 * time.Millisecond})
		s := userScope()
		l, single := &loader{value: "v1"}, &loader{value: "s1"}
		warm(t, c, s, "k", time.Minute, l)
		warm(t, c, cache.Scope{}, "single", time.Minute, single)

		f.mode.Store(1)
		l.set("v2")
		single.set("s2")
		c.Invalidate(context.Background(), s) // fails: kept for later
		c.Delete(context.Background(), cache.Scope{}, "single")
		if c.Available() {
			t.Fatal("breaker closed after a failure")
		}

		f.mode.Store(0)
		time.Sleep(c.RetryAfter() + time.Millisecond)
		if !c.Available() {
			t.Fatal("the breaker did not let the cache be tried again")
		}
		if v := get(t, c, s, "k", time.Minute, l); v != "v2" {
			t.Fatalf("first read after the cache came back: %q, from before the failed invalidation", v)
		}
		if v := get(t, c, cache.Scope{}, "single", time.Minute, single); v != "s2" {
			t.Fatalf("deleted entry served after the cache came back: %q", v)
		}
		warm(t, c, s, "k", time.Minute, l)
	})
}

func TestNilCacheLoads(t *testing.T) {
	var c *cache.Cache
	l := &loader{value: "v"}
	for i := 0; i < 2; i++ {
		if v := get(t, c, userScope(), "k", time.Minute, l); v != "v" {
			t.Fatal(v)
		}
	}
	if l.calls.Load() != 2 {
		t.Fatalf("loads %d", l.calls.Load())
	}
	c.Invalidate(context.Background(), userScope())
	if _, err := c.Allow(context.Background(), "k", cache.Rate{Requests: 1, Per: time.Second, Burst: 1}); !errors.Is(err, cache.ErrSkipped) {
		t.Fatal(err)
	}
}

// TestReadAhead: entries read ahead are served once, to the request whose
// context carries them, and not after that request wrote to the cache.
func TestReadAhead(t *testing.T) {
	ctx := context.Background()
	c := cache.New(cache.NewMemory(0), cache.Options{})
	s := cache.Scope{Name: "things", Owner: "u1"}
	loads := 0
	load := func(v string) func(context.Context) (string, error) {
		return func(context.Context) (string, error) { loads++; return v, nil }
	}
	get := func(ctx context.Context, v string) string {
		got, err := cache.GetOrLoad(ctx, c, s, "k", time.Minute, load(v))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	get(ctx, "one") // creates the version
	get(ctx, "one") // stores the entry
	rctx := c.ReadAhead(ctx, cache.Lookup{Scope: s, Key: "k"})
	c.Invalidate(ctx, s) // another request's write, after the read ahead
	if got := get(rctx, "two"); got != "one" {
		t.Errorf("read ahead: %q, want the value read ahead", got)
	}
	if got := get(rctx, "two"); got != "two" {
		t.Errorf("second read in the request: %q, want it read again", got)
	}

	get(ctx, "three")
	rctx = c.ReadAhead(ctx, cache.Lookup{Scope: s, Key: "k"})
	c.Invalidate(rctx, s) // the request's own write
	before := loads
	get(rctx, "four")
	if loads == before {
		t.Error("a value read ahead was served after the request's own write")
	}
	if c2 := (*cache.Cache)(nil).ReadAhead(ctx); c2 != ctx {
		t.Error("a nil cache changed the context")
	}
}
