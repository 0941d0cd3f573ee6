// Package migration is the migrate operation: it applies the database
// migrations embedded in it. The deploy invokes it (a CDK trigger) before
// any other function is updated; it answers an error when a migration
// fails, which fails the deploy.
package migration

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/db/migrate"
	"github.com/personalcrm/core/shared/platform"
)

// New builds the migrate operation of app's function: it waits for the
// database to answer (a new RDS Proxy, or a new security group rule,
// refuses connections for a while),
// then migrates as app's DATABASE_URL, the schema's owner.
func New(app *platform.App) (platform.Op, error) {
	return func(ctx context.Context) (any, error) {
		res, err := untilReachable(ctx, app.Log, defaultBackoff, func(ctx context.Context) (migrate.Result, error) {
			return up(ctx, app)
		})
		if err != nil {
			return nil, err
		}
		app.Log.InfoContext(ctx, "schema migrated", "version", res.Version, "applied", len(res.Applied))
		return report{Applied: append([]int64{}, res.Applied...)}, nil
	}, nil
}

// up applies the migrations once, connecting as the pool does: with an
// IAM token under DATABASE_IAM_AUTH (through RDS Proxy), or with the
// password of DATABASE_SECRET (straight to the instance, which only the
// proxy would otherwise sign in to with that secret).
//
// The secret is read at init: after the monthly rotation a warm
// environment would hold the old password. The deploy invokes migrate
// once, and an environment does not outlive the hours between deploys
// by much; a refused sign-in fails that deploy, and the next one, in a
// fresh environment, reads the new password.
func up(ctx context.Context, app *platform.App) (migrate.Result, error) {
	cfg, err := db.ParseConfig(app.Config.DatabaseURL)
	if err != nil {
		return migrate.Result{}, err
	}
	creds, ok, err := app.Config.DatabaseCredentials()
	if err != nil {
		return migrate.Result{}, fmt.Errorf("%s: %w", config.VarDatabaseSecret, err)
	}
	if ok {
		cfg.Password = creds.Password.Reveal()
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
