// Migrate applies the database migrations embedded in it. The deploy
// invokes it (a CDK trigger) before any other function is updated; it
// returns an error when a migration fails, which fails the deploy.
package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/functions/workers"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db/migrate"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.Migrate)
	if err != nil {
		platform.Fatal(err)
	}
	workers.StartOp(app, workers.Op{Function: app.Function, Run: func(ctx context.Context) (any, error) {
		res, err := untilReachable(ctx, app.Log, defaultBackoff, func(ctx context.Context) (migrate.Result, error) {
			return up(ctx, app)
		})
		if err != nil {
			return nil, err
		}
		app.Log.InfoContext(ctx, "schema migrated", "version", res.Version, "applied", len(res.Applied))
		return report{Applied: append([]int64{}, res.Applied...)}, nil
	}})
}

// up applies the migrations once, connecting as the pool does (with an
// IAM token under DATABASE_IAM_AUTH).
func up(ctx context.Context, app *platform.App) (migrate.Result, error) {
	cfg, err := pgx.ParseConfig(app.Config.DatabaseURL)
	if err != nil {
		return migrate.Result{}, fmt.Errorf("parse database url: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	return migrate.UpConfig(ctx, cfg, app.BeforeConnect, app.Log)
}

// report is the invocation's answer: the migrations it applied, none when
// the schema was current. The schema's version goes to the log.
type report struct {
	Applied []int64 `json:"applied"`
}

// LogValue logs the report as its JSON reads.
func (r report) LogValue() slog.Value { return slog.GroupValue(slog.Any("applied", r.Applied)) }
