// User-features answers GET /v1/user/features.
package main

import (
	"context"

	userroutes "github.com/personalcrm/core/functions/routes/user"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.UserFeatures)
	if err != nil {
		platform.Fatal(err)
	}
	api.Start(app, userroutes.Features())
}
