// Emails-sync answers POST /v1/emails/sync.
package main

import (
	"github.com/personalcrm/core/functions/routes/enqueue"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.EmailsSync, enqueue.NewEmailsSync) }
