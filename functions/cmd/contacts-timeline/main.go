// Contacts-timeline answers GET /v1/contacts/{id}/timeline.
package main

import (
	"github.com/personalcrm/core/functions/routes/contacts"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.ContactsTimeline, contacts.NewTimeline) }
