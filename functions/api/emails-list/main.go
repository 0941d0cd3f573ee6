// Emails-list answers GET /v1/emails.
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
	app, err := platform.Init(context.Background(), catalog.EmailsList)
	if err != nil {
		platform.Fatal(err)
	}
	api.Start(app, emails.List(email.NewService(app.DB)))
}
