// Contacts-enrich answers POST /v1/contacts/{id}/enrich.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/routes/contacts"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.ContactsEnrich)
	if err != nil {
		platform.Fatal(err)
	}
	api.Start(app, contacts.Enrich(contact.NewEnrichments(queue.New(app.DB, sqsqueue.FromConfig(app.Config), app.Log))))
}
