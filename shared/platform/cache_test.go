package platform_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/personalcrm/core/shared/awsenv"
	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/cache/iamauth"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/health"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/testkit"
	"github.com/redis/go-redis/v9"
)

func checks(app *platform.App) map[string]health.Check {
	out := map[string]health.Check{}
	for _, c := range app.Checks() {
		out[c.Name] = c
	}
	return out
}

func TestInitBuildsTheCache(t *testing.T) {
	t.Setenv("AWS_LAMBDA_RUNTIME_API", "")
	for name, url := range map[string]string{"memory": "", "redis": testkit.RedisURL()} {
		t.Run(name, func(t *testing.T) {
			app, err := platform.Init(context.Background(), catalog.ContactsGet, config.WithEnv(map[string]string{
				"APP_ENV": "test", "DATABASE_URL": testkit.DatabaseURL(t), "REDIS_URL": url,
			}))
			if err != nil {
				t.Fatal(err)
			}
			defer app.Close()
			if app.Cache == nil || app.Limiter == nil {
				t.Fatalf("cache %v, limiter %v: want both", app.Cache, app.Limiter)
			}
			c, ok := checks(app)["cache"]
			if !ok || c.Required {
				t.Fatalf("cache check %+v (present %v): want present and not required", c, ok)
			}
			if err := c.Run(context.Background()); err != nil {
				t.Fatalf("cache check: %v", err)
			}
			rep := health.Run(context.Background(), nil, 0, app.Checks()...)
			if rep.Status != health.Healthy {
				t.Fatalf("status %s, want %s: %+v", rep.Status, health.Healthy, rep)
			}
			if got := rep.Checks["cache"].Status; got != health.Up {
				t.Fatalf("cache %s, want %s", got, health.Up)
			}
		})
	}
}

// A dead cache degrades the report but leaves the API healthy enough to
// serve.
func TestCacheCheckNotRequired(t *testing.T) {
	t.Setenv("AWS_LAMBDA_RUNTIME_API", "")
	redis := testkit.StartRedis(t)
	app, err := platform.Init(context.Background(), catalog.ContactsGet, config.WithEnv(map[string]string{
		"APP_ENV": "test", "DATABASE_URL": testkit.DatabaseURL(t), "REDIS_URL": redis.URL(),
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	redis.Kill()
	rep := health.Run(context.Background(), nil, 0, app.Checks()...)
	if rep.Status != health.Degraded {
		t.Fatalf("status with Redis down %s, want %s: %+v", rep.Status, health.Degraded, rep)
	}
	if got := rep.Checks["cache"].Status; got != health.Down {
		t.Fatalf("cache with Redis down %s, want %s", got, health.Down)
	}
	if got := rep.Checks["database"].Status; got != health.Up {
		t.Fatalf("database with Redis down %s, want %s", got, health.Up)
	}
}

// In Lambda without REDIS_URL there is no cache: per-instance memory could
// not be invalidated by writes in other instances.
func TestNoMemoryCacheInLambda(t *testing.T) {
	t.Setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
	app, err := platform.Init(context.Background(), catalog.ContactsGet, config.WithEnv(map[string]string{
		"APP_ENV": "test", "DATABASE_URL": testkit.DatabaseURL(t),
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if app.Cache != nil || app.Limiter != nil {
		t.Fatal("a Lambda without REDIS_URL got an in-memory cache")
	}
	if _, ok := checks(app)["cache"]; ok {
		t.Fatal("cache check without a cache")
	}
}

// With CACHE_IAM_USER the cache signs in over TLS as that ElastiCache user
// with an IAM token signed with the environment's credentials. A token
// names the second it was signed, so the server's user accepts the tokens
// of every second from just before the test to two minutes after (a user
// may have many passwords); the default user is off.
func TestInitSignsInToTheCacheWithIAM(t *testing.T) {
	ctx := context.Background()
	t.Setenv("AWS_LAMBDA_RUNTIME_API", "")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDLAMBDA")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "lambda-secret-key")
	t.Setenv("AWS_SESSION_TOKEN", "lambda-session-token")
	const name, user = "crm-test", "crm-test-app"
	srv := testkit.StartRedisTLS(t)

	args := []any{"ACL", "SETUSER", user, "reset"}
	start := time.Now().Truncate(time.Second)
	for i := -2; i <= 120; i++ {
		clock := testkit.NewClock(start.Add(time.Duration(i) * time.Second))
		tokens, err := iamauth.New(iamauth.Config{CacheName: name, User: user, Region: "eu-west-1", Credentials: awsenv.Credentials(), Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		token, err := tokens.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, ">"+token)
	}
	for _, f := range strings.Fields(cache.AccessString) {
		args = append(args, f)
	}
	admin, err := cache.NewRedis(srv.URL(), cache.RedisOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.Client().Do(ctx, args...).Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	if err := admin.Client().Do(ctx, "ACL", "SETUSER", "default", "off").Err(); err != nil {
		t.Fatal(err)
	}

	env := map[string]string{
		"APP_ENV": "test", "DATABASE_URL": testkit.DatabaseURL(t), "CACHE_TIMEOUT": "5s",
		"REDIS_URL": srv.TLSURL(), "CACHE_IAM_USER": user, "CACHE_NAME": name,
	}
	app, err := platform.Init(ctx, catalog.ContactsGet, config.WithEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if err := app.Cache.Ping(ctx); err != nil {
		t.Fatalf("ping as %s with an IAM token: %v", user, err)
	}
	if d, err := app.Cache.Allow(ctx, "contacts-get:u:1", cache.Rate{Requests: 5, Per: time.Minute, Burst: 1}); err != nil {
		t.Fatalf("rate limit: %v", err)
	} else if !d.Allowed {
		t.Fatalf("rate limit: %+v, want allowed", d)
	}
	opts := app.Cache.Backend().(*cache.Redis).Client().(*redis.Client).Options()
	if opts.ConnMaxLifetime != iamauth.MaxConnLifetime || opts.TLSConfig == nil {
		t.Errorf("connection lifetime %s, TLS %v: want %s over TLS", opts.ConnMaxLifetime, opts.TLSConfig != nil, iamauth.MaxConnLifetime)
	}

	// The same server without the token: refused.
	delete(env, "CACHE_IAM_USER")
	delete(env, "CACHE_NAME")
	plain, err := platform.Init(ctx, catalog.ContactsGet, config.WithEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.Cache.Ping(ctx); err == nil {
		t.Fatal("the default user answered: the test proves nothing")
	}
	if lt := plain.Cache.Backend().(*cache.Redis).Client().(*redis.Client).Options().ConnMaxLifetime; lt != 0 {
		t.Errorf("connection lifetime %s without IAM auth, want unlimited", lt)
	}

	// IAM auth needs the region its tokens are signed for.
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	env["CACHE_IAM_USER"], env["CACHE_NAME"] = user, name
	if _, err := platform.Init(ctx, catalog.ContactsGet, config.WithEnv(env)); err == nil ||
		!strings.Contains(err.Error(), "CACHE_IAM_USER") || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Fatalf("no region: %v", err)
	}
}

// CACHE_MODE=cluster opens a cluster-mode client on REDIS_URL, which
// learns the cluster's other nodes from the one named.
func TestInitOpensClusterCache(t *testing.T) {
	ctx := context.Background()
	cl := testkit.StartRedisCluster(t)
	env := map[string]string{
		"APP_ENV": "test", "DATABASE_URL": testkit.DatabaseURL(t), "CACHE_TIMEOUT": "5s",
		"REDIS_URL": cl.URL(), "CACHE_MODE": "cluster",
	}
	app, err := platform.Init(ctx, catalog.ContactsGet, config.WithEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if _, ok := app.Cache.Backend().(*cache.Redis).Client().(*redis.ClusterClient); !ok {
		t.Fatalf("client %T, want a cluster client", app.Cache.Backend().(*cache.Redis).Client())
	}
	for i := range 20 {
		if _, err := app.Cache.Allow(ctx, fmt.Sprintf("contacts-get:u:%d", i), cache.Rate{Requests: 5, Per: time.Minute, Burst: 1}); err != nil {
			t.Fatalf("rate limit %d: %v", i, err)
		}
	}
}
