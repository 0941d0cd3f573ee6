// Migrate applies the database migrations embedded in it. The deploy
// invokes it (a CDK trigger) before any other function is updated; it
// returns an error when a migration fails, which fails the deploy.
package main

import (
	"context"

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
		res, err := migrate.Up(ctx, app.Config.DatabaseURL, app.Log)
		if err != nil {
			return nil, err
		}
		app.Log.InfoContext(ctx, "schema migrated", "version", res.Version, "applied", len(res.Applied))
		return report{Applied: append([]int64{}, res.Applied...)}, nil
	}})
}

// report is the invocation's answer: the migrations it applied, none when
// the schema was current. The schema's version goes to the log.
type report struct {
	Applied []int64 `json:"applied"`
}
