// User-delete answers DELETE /v1/user.
package main

import (
	"context"

	userroutes "github.com/personalcrm/core/functions/routes/user"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.UserDelete)
	if err != nil {
		platform.Fatal(err)
	}
	data, err := userroutes.NewData(app.Config, app.DB)
	if err != nil {
		platform.Fatal(err)
	}
	api.Start(app, userroutes.Delete(userroutes.DeleteDeps{
		Users: data, Sessions: app.Sessions, Cache: app.Cache, Log: app.Log,
		Cookies: auth.SessionCookie(app.Config.AuthURL, app.Config.Env == config.Production),
	}))
}
