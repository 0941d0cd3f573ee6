// User-sessions-revoke-all answers POST /v1/user/sessions/revoke-all.
package main

import (
	"context"

	authroutes "github.com/personalcrm/core/functions/routes/auth"
	userroutes "github.com/personalcrm/core/functions/routes/user"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.UserSessionsRevokeAll)
	if err != nil {
		platform.Fatal(err)
	}
	cookies := authroutes.CookiesFor(app.Config.AuthURL, app.Config.Env == config.Production)
	api.Start(app, userroutes.SessionsRevokeAll(app.Sessions, cookies.Session))
}
