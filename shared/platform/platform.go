// Package platform builds what every function starts from, once per cold
// start: its catalog entry, configuration, logger, monitor and, when the
// entry uses the database, the connection pool and session store.
package platform

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/health"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/monitor"
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
	DB       *db.Pool
	Sessions *auth.Sessions

	closeOnce sync.Once
}

// Init builds the App of the catalog function name. It does no network
// I/O: the pool connects on first use. Errors name every bad variable.
func Init(ctx context.Context, name string, opts ...config.Option) (*App, error) {
	fn, ok := catalog.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("no function %q in the catalog", name)
	}
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
	if fn.Needs(catalog.Database) {
		mode := db.Local
		if config.Lambda() {
			mode = db.Lambda
		}
		app.DB, err = db.Open(ctx, cfg.DatabaseURL, db.Options{Mode: mode})
		if err != nil {
			return nil, err
		}
		app.Sessions = auth.NewSessions(app.DB)
	}
	return app, nil
}

// Start runs handler as the Lambda of the App's function, closing the
// App's connections on SIGTERM (aws-lambda-go registers the internal
// extension that makes Lambda send it). It does not return.
func Start(app *App, handler any) {
	lambda.StartWithOptions(handler, lambda.WithEnableSIGTERM(app.Close))
}

// Checks are the health checks of the App's dependencies.
func (a *App) Checks() []health.Check {
	var out []health.Check
	if a.DB != nil {
		out = append(out, health.Check{Name: "database", Required: true, Run: func(ctx context.Context) error { return db.Ping(ctx, a.DB) }})
	}
	return out
}

// Close releases the App's connections; it is safe to call more than once.
func (a *App) Close() {
	a.closeOnce.Do(func() {
		if a.DB != nil {
			a.DB.Close()
		}
	})
}

// Fatal logs an init error and exits: a Lambda whose init fails reports it
// and is retried by the runtime.
func Fatal(err error) {
	slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("init failed", "err", err)
	os.Exit(1)
}
