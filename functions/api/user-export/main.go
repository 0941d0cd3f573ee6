// User-export answers GET /v1/user/export.
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
	app, err := platform.Init(context.Background(), catalog.UserExport)
	if err != nil {
		platform.Fatal(err)
	}
	api.Start(app, userroutes.Export(userroutes.ExportDeps{Users: user.NewData(app.DB, nil)}))
}
