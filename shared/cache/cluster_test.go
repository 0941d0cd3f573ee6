package cache_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/monitor"
	"github.com/personalcrm/core/shared/testkit"
)

// TestClusterCommandsStayInSlot runs every operation of the cache against
// a Redis Cluster, which refuses a command whose keys lie in different
// hash slots (CROSSSLOT), and fails on any error the cache logged or
// counted: the cache would otherwise degrade silently to the database.
func TestClusterCommandsStayInSlot(t *testing.T) {
	t.Parallel()
	cl := testkit.StartRedisCluster(t)
	logs, metrics := &testkit.Buffer{}, &testkit.Buffer{}
	c := cl.Cache(t, cache.Options{
		Log:     logging.New(logs, nil),
		Monitor: monitor.New(metrics, nil, "test", "cache-test"),
	})
	ctx := context.Background()

	// The premise: the cluster refuses a multi-key command across slots.
	rdb := c.Backend().(*cache.Redis).Client()
	if _, ok := rdb.(*redis.ClusterClient); !ok {
		t.Fatalf("client %T, want a cluster client", rdb)
	}
	a, b := cache.Scope{Name: "things", Owner: "a"}, cache.Scope{Name: "things", Owner: "b"}
	k1, k2 := cache.DefaultPrefix+"{things:a}:k", cache.DefaultPrefix+"{things:b}:k"
	if err := rdb.Do(ctx, "MGET", k1, k2).Err(); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("MGET across slots: %v, want CROSSSLOT", err)
	}

	// Scopes whose owners hash to different slots, versioned and not.
	scopes := []cache.Scope{a, b, {}}
	for range 20 {
		scopes = append(scopes, cache.Scope{Name: "contacts", Owner: uuid.NewString()})
	}
	for _, s := range scopes {
		l := &loader{value: "v"}
		warm(t, c, s, "k", time.Minute, l)
		warm(t, c, s, cache.Key("list", 2, "text"), time.Minute, l)
		c.Invalidate(ctx, s)
		c.Delete(ctx, s, "k")
		c.Drop(ctx, s)
		get(t, c, s, "k", time.Minute, l)
	}
	// A read ahead of entries in many slots, in one pipeline, then
	// served from what it read.
	l := &loader{value: "v"}
	var lookups []cache.Lookup
	for _, s := range scopes {
		warm(t, c, s, "k", time.Minute, l)
		lookups = append(lookups, cache.Lookup{Scope: s, Key: "k"}, cache.Lookup{Scope: s, Key: "other"})
	}
	rctx := c.ReadAhead(ctx, lookups...)
	if rctx == ctx {
		t.Fatal("nothing read ahead")
	}
	before := l.calls.Load()
	for _, s := range scopes {
		if v, err := cache.GetOrLoad(rctx, c, s, "k", time.Minute, l.load); err != nil || v != "v" {
			t.Fatalf("read ahead %v: %q, %v", s, v, err)
		}
	}
	if n := l.calls.Load() - before; n != 0 {
		t.Fatalf("%d loads after the read ahead", n)
	}
	for i := range 5 {
		if _, err := c.Allow(ctx, "user:"+uuid.NewString(), cache.Rate{Requests: 10, Per: time.Second, Burst: 10}); err != nil {
			t.Fatalf("allow %d: %v", i, err)
		}
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if n := metricCount(metrics.String(), "CacheError"); n != 0 || strings.Contains(logs.String(), "cache error") {
		t.Fatalf("%d cache errors:\n%s", n, logs)
	}
	if metricCount(metrics.String(), "CacheHit") == 0 {
		t.Fatal("no hit on the cluster")
	}
}

// TestDeadClusterDegrades: with every node of the cluster gone, requests
// are served by their loads, and the cache is tried once before the
// breaker opens.
func TestDeadClusterDegrades(t *testing.T) {
	t.Parallel()
	cl := testkit.StartRedisCluster(t)
	metrics := &testkit.Buffer{}
	c := cl.Cache(t, cache.Options{
		Monitor:    monitor.New(metrics, nil, "test", "cache-test"),
		Timeout:    200 * time.Millisecond,
		RetryAfter: time.Hour,
	})
	s := userScope()
	l := &loader{value: "from the database"}
	warm(t, c, s, "k", time.Minute, l)

	cl.Kill()
	for i := range 5 {
		if v := get(t, c, s, "k", time.Minute, l); v != "from the database" {
			t.Fatalf("request %d: %q", i, v)
		}
	}
	if _, err := c.Allow(context.Background(), "k", cache.Rate{Requests: 1, Per: time.Second, Burst: 1}); err == nil {
		t.Fatal("Allow with the cluster down: no error")
	}
	if n := metricCount(metrics.String(), "CacheError"); n != 1 {
		t.Fatalf("%d CacheError, want 1:\n%s", n, metrics)
	}
}

// TestClusterAccessString: a user with nothing but ClusterAccessString
// can do all a cluster-mode client does, CLUSTER SLOTS included.
func TestClusterAccessString(t *testing.T) {
	t.Parallel()
	cl := testkit.StartRedisCluster(t)
	ctx := context.Background()
	for _, n := range cl.Nodes {
		admin, err := cache.NewRedis(n.URL(), cache.RedisOptions{})
		if err != nil {
			t.Fatal(err)
		}
		args := []any{"ACL", "SETUSER", "app", "resetpass", ">app-password"}
		for _, a := range strings.Fields(cache.ClusterAccessString) {
			args = append(args, a)
		}
		if err := admin.Client().Do(ctx, args...).Err(); err != nil {
			t.Fatalf("acl setuser: %v", err)
		}
		admin.Close()
	}
	b, err := cache.NewRedis(strings.Replace(cl.URL(), "redis://", "redis://app:app-password@", 1), cache.RedisOptions{Cluster: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	metrics := &testkit.Buffer{}
	c := cache.New(b, cache.Options{Monitor: monitor.New(metrics, nil, "test", "cache-test")})
	defer c.Close()
	for range 10 {
		s := cache.Scope{Name: "contacts", Owner: uuid.NewString()}
		l := &loader{value: "v"}
		warm(t, c, s, "k", time.Minute, l)
		c.ReadAhead(ctx, cache.Lookup{Scope: s, Key: "k"}, cache.Lookup{Scope: userScope(), Key: "k"})
		c.Invalidate(ctx, s)
		c.Delete(ctx, cache.Scope{}, "single")
		if _, err := c.Allow(ctx, "user:"+s.Owner, cache.Rate{Requests: 1, Per: time.Second, Burst: 1}); err != nil {
			t.Fatalf("allow: %v", err)
		}
	}
	if n := metricCount(metrics.String(), "CacheError"); n != 0 {
		t.Fatalf("%d cache errors", n)
	}
	if err := b.Client().FlushAll(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("FLUSHALL as the cache's user: %v, want NOPERM", err)
	}
}
