package auth_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/monitor"
	"github.com/personalcrm/core/shared/testkit"
)

// On a cluster-mode cache (ElastiCache Serverless), a warm request's read
// ahead of its session, its user's feature settings and a route's entry,
// which lie in different hash slots, succeeds and serves the request: a
// read across slots would fail with CROSSSLOT, be logged and counted, and
// leave every request to the database.
func TestCachedSessionsOnCluster(t *testing.T) {
	t.Parallel()
	logs, metrics := &testkit.Buffer{}, &testkit.Buffer{}
	c := testkit.StartRedisCluster(t).Cache(t, cache.Options{
		Log:     logging.New(logs, nil),
		Monitor: monitor.New(metrics, nil, "test", "auth-test"),
	})
	ctx := context.Background()
	pool := testkit.DB(t)
	s := auth.NewCachedSessions(auth.NewSessions(pool), c, testCacheOptions)
	userID, token := testkit.User(t, pool, "cluster@example.com")
	for i := range 2 { // load, then hit
		if _, err := s.Resolve(ctx, token); err != nil {
			t.Fatalf("resolve %d: %v", i, err)
		}
	}
	more := func(u uuid.UUID) []cache.Lookup {
		return []cache.Lookup{{Scope: cache.Scope{Name: "contacts", Owner: u.String()}, Key: "page"}}
	}
	hits := strings.Count(metrics.String(), `"Name":"CacheHit"`)
	rctx := s.ReadAhead(ctx, token, more)
	if rctx == ctx {
		t.Fatal("nothing read ahead")
	}
	p, err := s.Resolve(rctx, token)
	if err != nil || p.UserID != userID {
		t.Fatalf("resolve after the read ahead: %+v, %v", p, err)
	}
	if got := strings.Count(metrics.String(), `"Name":"CacheHit"`) - hits; got < 1 {
		t.Errorf("%d hits from the read ahead, want the session's", got)
	}
	// One MGET failing fails the pipeline, which the cache logs and counts.
	if n := strings.Count(metrics.String(), `"Name":"CacheError"`); n != 0 {
		t.Fatalf("%d cache errors:\n%s", n, logs)
	}
}
