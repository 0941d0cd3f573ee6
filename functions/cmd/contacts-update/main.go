// Contacts-update answers PATCH /v1/contacts/{id}.
package main

import (
	"github.com/personalcrm/core/functions/routes/contacts"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.ContactsUpdate, contacts.NewUpdate) }
