// Openapi answers GET /openapi.json.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/routes/openapi"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.OpenAPI)
	if err != nil {
		platform.Fatal(err)
	}
	api.Start(app, openapi.Route())
}
