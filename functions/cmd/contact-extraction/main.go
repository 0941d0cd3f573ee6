// Contact-extraction consumes its SQS queue: the people each email was
// exchanged with become the user's contacts.
package main

import (
	"github.com/personalcrm/core/functions/jobs/contactextraction"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.ContactExtraction, contactextraction.New) }
