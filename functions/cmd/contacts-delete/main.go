// Contacts-delete answers DELETE /v1/contacts/{id}.
package main

import (
	"github.com/personalcrm/core/functions/routes/contacts"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.ContactsDelete, contacts.NewDelete) }
