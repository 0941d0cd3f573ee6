// Health answers GET /health.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/routes/health"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.Health)
	if err != nil {
		platform.Fatal(err)
	}
	api.Start(app, health.Route(app.Log, app.Checks()...))
}
