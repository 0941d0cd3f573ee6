// Contacts-list answers GET /v1/contacts.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/routes/contacts"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/platform"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.ContactsList)
	if err != nil {
		platform.Fatal(err)
	}
	api.Start(app, contacts.List(contact.NewService(app.DB, contact.WithCache(app.Cache))))
}
