// Auth-callback answers GET /auth/google/callback.
package main

import (
	"context"

	authroutes "github.com/personalcrm/core/functions/routes/auth"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.AuthCallback)
	if err != nil {
		platform.Fatal(err)
	}
	deps, err := authroutes.NewCallbackDeps(app.Config, app.DB, app.Sessions, queue.New(app.DB, sqsqueue.FromConfig(app.Config), app.Log), app.Log)
	if err != nil {
		platform.Fatal(err)
	}
	api.Start(app, authroutes.Callback(deps))
}
