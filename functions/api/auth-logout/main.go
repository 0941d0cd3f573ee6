// Auth-logout answers POST /auth/logout.
package main

import (
	"context"

	authroutes "github.com/personalcrm/core/functions/routes/auth"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.AuthLogout)
	if err != nil {
		platform.Fatal(err)
	}
	cookies := authroutes.CookiesFor(app.Config.AuthURL, app.Config.Env == config.Production)
	api.Start(app, authroutes.Logout(app.Sessions, cookies, authroutes.ReturnsFor(app.Config)))
}
