// Auth-login answers GET /auth/google/login.
package main

import (
	"context"

	authroutes "github.com/personalcrm/core/functions/routes/auth"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.AuthLogin)
	if err != nil {
		platform.Fatal(err)
	}
	deps, err := authroutes.NewLoginDeps(app.Config, app.DB, app.Sessions, app.Log)
	if err != nil {
		platform.Fatal(err)
	}
	api.Start(app, authroutes.Login(deps))
}
