// Emails-get answers GET /v1/emails/{id}.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/routes/emails"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.EmailsGet)
	if err != nil {
		platform.Fatal(err)
	}
	api.Start(app, emails.Get(email.NewService(app.DB)))
}
