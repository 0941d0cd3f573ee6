// User-sessions-list answers GET /v1/user/sessions.
package main

import (
	"context"

	userroutes "github.com/personalcrm/core/functions/routes/user"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.UserSessionsList)
	if err != nil {
		platform.Fatal(err)
	}
	api.Start(app, userroutes.SessionsList(app.Sessions))
}
