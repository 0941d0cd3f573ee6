// Maintenance runs daily: it deletes finished jobs past their retention,
// gives up jobs whose message is gone, deletes expired sessions and
// verification tokens, and seals provider tokens sealed with an older
// TOKEN_KEYS key again with the newest.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/workers"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.Maintenance)
	if err != nil {
		platform.Fatal(err)
	}
	tokenKeys, err := app.Config.TokenBox()
	if err != nil {
		platform.Fatal(err)
	}
	workers.StartOp(app, workers.Maintenance(app.DB, workers.Retention(app), tokenKeys, app.Log))
}
