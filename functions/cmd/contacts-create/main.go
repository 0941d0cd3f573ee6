// Contacts-create answers POST /v1/contacts.
package main

import (
	"github.com/personalcrm/core/functions/routes/contacts"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.ContactsCreate, contacts.NewCreate) }
