// User-update answers PATCH /v1/user.
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
	app, err := platform.Init(context.Background(), catalog.UserUpdate)
	if err != nil {
		platform.Fatal(err)
	}
	api.Start(app, userroutes.Update(user.NewService(app.DB)))
}
