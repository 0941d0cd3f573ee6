// User-get answers GET /v1/user.
package main

import (
	"context"

	userroutes "github.com/personalcrm/core/functions/routes/user"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/user"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.UserGet)
	if err != nil {
		platform.Fatal(err)
	}
	api.Start(app, userroutes.Get(user.NewService(app.DB)))
}
