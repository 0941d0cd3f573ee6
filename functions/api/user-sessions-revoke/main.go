// User-sessions-revoke answers DELETE /v1/user/sessions/{id}.
package main

import (
	"context"

	userroutes "github.com/personalcrm/core/functions/routes/user"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.UserSessionsRevoke)
	if err != nil {
		platform.Fatal(err)
	}
	api.Start(app, userroutes.SessionsRevoke(app.Sessions))
}
