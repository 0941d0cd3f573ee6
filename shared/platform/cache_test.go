package platform_test

import (
	"context"
	"testing"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/health"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/testkit"
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
			if rep.Status != health.Healthy || rep.Checks["cache"].Status != health.Up {
				t.Fatalf("report %+v", rep)
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
	if rep.Status != health.Degraded || rep.Checks["cache"].Status != health.Down || rep.Checks["database"].Status != health.Up {
		t.Fatalf("report with Redis down: %+v, want degraded with the database up", rep)
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
