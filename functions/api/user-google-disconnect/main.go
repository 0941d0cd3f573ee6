// User-google-disconnect answers POST /v1/user/google/disconnect.
package main

import (
	"context"

	userroutes "github.com/personalcrm/core/functions/routes/user"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.UserGoogleDisconnect)
	if err != nil {
		platform.Fatal(err)
	}
	data, err := userroutes.NewData(app.Config, app.DB)
	if err != nil {
		platform.Fatal(err)
	}
	api.Start(app, userroutes.Disconnect(data, app.Log))
}
