// Contacts-enrich answers POST /v1/contacts/{id}/enrich.
package main

import (
	"github.com/personalcrm/core/functions/routes/enqueue"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.ContactsEnrich, enqueue.NewContactsEnrich) }
