// Package platform builds what every function starts from, once per cold
// start: its catalog entry, configuration, logger, monitor and, when the
// entry uses them, the connection pool, session store, cache and rate
// limiter.
package platform

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/awsenv"
	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/cache/iamauth"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/config/awssecret"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/health"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/monitor"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/ratelimit"
)

// Namespace is the CloudWatch namespace of the functions' metrics.
const Namespace = "PersonalCRM"

// App is a function's dependencies.
type App struct {
	Function catalog.Function
	Config   *config.Config
	Log      *slog.Logger
	Monitor  *monitor.Monitor
	// DB is nil unless the function uses the database.
	DB *db.Pool
	// Sessions resolves sessions through the cache, when there is one.
	Sessions *auth.CachedSessions
	// Cache is nil unless the function uses the cache. A Lambda without
	// REDIS_URL has none: an in-memory copy per instance could not be
	// invalidated by writes in other instances.
	Cache *cache.Cache
	// Limiter enforces the routes' rate limits; nil without a cache.
	Limiter *ratelimit.Limiter
	// BeforeConnect is what the pool runs before each new connection (an
	// IAM token as the password with DATABASE_IAM_AUTH); nil otherwise.
	// Connections made outside the pool (migrations) use it too.
	BeforeConnect func(context.Context, *pgx.ConnConfig) error
	// Backend is the job queue's transport when the process provides one
	// (the local server: in memory, or SQS); Init leaves it nil, and the
	// functions that enqueue or consume use SQS as configured
	// (sqsqueue.For).
	Backend queue.Backend

	closeOnce sync.Once
}

// Init builds the App of the catalog function name. The pool connects on
// first use; the only network I/O is reading the secrets whose variables
// hold a Secrets Manager ARN (none outside AWS), once each. Errors name
// every bad variable.
func Init(ctx context.Context, name string, opts ...config.Option) (*App, error) {
	fn, ok := catalog.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("no function %q in the catalog", name)
	}
	// The resolver builds its client only when a variable holds an ARN;
	// a caller's own WithSecrets comes later and wins.
	opts = append([]config.Option{config.WithSecrets(awssecret.FromEnv())}, opts...)
	cfg, err := config.Load(ctx, fn, opts...)
	if err != nil {
		return nil, err
	}
	log := logging.New(os.Stdout, cfg.Level)
	app := &App{
		Function: fn,
		Config:   cfg,
		Log:      log,
		Monitor:  monitor.New(os.Stdout, log, Namespace, fn.Name),
	}
	if fn.Needs(catalog.Cache) && (cfg.RedisURL != "" || !config.Lambda()) {
		app.Cache, err = OpenCache(cfg, log, app.Monitor)
		if err != nil {
			return nil, err
		}
		app.Limiter = ratelimit.New(app.Cache, log, app.Monitor)
	}
	if fn.Needs(catalog.Database) {
		mode := db.Local
		if config.Lambda() {
			mode = db.Lambda
		}
		if cfg.DatabaseIAMAuth {
			region, err := iamRegion(config.VarDatabaseIAMAuth)
			if err != nil {
				return nil, err
			}
			app.BeforeConnect = db.IAMAuth(region, awsenv.Credentials())
		}
		app.DB, err = db.Open(ctx, cfg.DatabaseURL, db.Options{Mode: mode, BeforeConnect: app.BeforeConnect})
		if err != nil {
			return nil, err
		}
		// Cached session entries are authenticated with a key derived from
		// AUTH_SECRET, which only signed routes (and sign-in) are given.
		app.Sessions = auth.NewCachedSessions(auth.NewSessions(app.DB).WithMaxAge(cfg.SessionMaxAge), app.Cache,
			auth.CacheOptions{Secret: []byte(cfg.AuthSecret.Reveal()), Log: log})
	}
	return app, nil
}

// OpenCache opens the cache cfg names: Redis at REDIS_URL, else process
// memory. With CACHE_IAM_USER each new connection signs in with an
// ElastiCache IAM token (credentials and region from the Lambda
// environment), and connections are retired before ElastiCache's 12-hour
// limit on them. CACHE_MODE cluster or serverless speaks to a cluster-mode
// endpoint, and serverless signs the tokens for a serverless cache. It
// does not connect; the first call does. log and mon may
// be nil. Errors: a bad REDIS_URL, or IAM auth without a region.
func OpenCache(cfg *config.Config, log *slog.Logger, mon *monitor.Monitor) (*cache.Cache, error) {
	pool := 16
	if config.Lambda() {
		pool = cache.DefaultPoolSize
	}
	ro := cache.RedisOptions{Password: cfg.RedisPassword.Reveal(), Timeout: cfg.CacheTimeout, PoolSize: pool,
		Cluster: cfg.CacheCluster()}
	if cfg.RedisURL != "" && cfg.CacheIAMAuth() {
		region, err := iamRegion(config.VarCacheIAMUser)
		if err != nil {
			return nil, err
		}
		tokens, err := iamauth.New(iamauth.Config{
			CacheName: cfg.CacheName, User: cfg.CacheIAMUser, Region: region, Credentials: awsenv.Credentials(),
			Serverless: cfg.CacheServerless(),
		})
		if err != nil {
			return nil, err
		}
		ro.Credentials = tokens.Credentials
		ro.ConnMaxLifetime = iamauth.MaxConnLifetime
	}
	return cache.Open(cfg.RedisURL, ro, cache.Options{Log: log, Monitor: mon, Timeout: cfg.CacheTimeout})
}

// iamRegion is the region IAM tokens are signed for, from the environment;
// the error names the variable that asked for IAM authentication.
func iamRegion(variable string) (string, error) {
	region := awsenv.Region()
	if region == "" {
		return "", fmt.Errorf("%s: %w", variable, awsenv.ErrNoRegion)
	}
	return region, nil
}

// Checks are the health checks of the App's dependencies.
func (a *App) Checks() []health.Check {
	var out []health.Check
	if a.DB != nil {
		out = append(out, health.Check{Name: "database", Required: true, Run: func(ctx context.Context) error { return db.Ping(ctx, a.DB) }})
	}
	if a.Cache != nil {
		// The API works without the cache, only slower.
		out = append(out, health.Check{Name: "cache", Required: false, Run: a.Cache.Ping})
	}
	return out
}

// Close releases the App's connections; it is safe to call more than once.
func (a *App) Close() {
	a.closeOnce.Do(func() {
		if a.DB != nil {
			a.DB.Close()
		}
		if a.Cache != nil {
			a.Cache.Close()
		}
	})
}

// Fatal logs an init error and exits: a Lambda whose init fails reports it
// and is retried by the runtime.
func Fatal(err error) {
	slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("init failed", "err", err)
	os.Exit(1)
}

// For is a's dependencies as function fn's: the local server builds every
// function of the catalog from one App.
func (a *App) For(fn catalog.Function) *App {
	return &App{
		Function: fn, Config: a.Config, Log: a.Log, Monitor: a.Monitor,
		DB: a.DB, Sessions: a.Sessions, Cache: a.Cache, Limiter: a.Limiter,
		BeforeConnect: a.BeforeConnect, Backend: a.Backend,
	}
}
