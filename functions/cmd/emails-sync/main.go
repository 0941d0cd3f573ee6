// Emails-sync answers POST /v1/emails/sync.
package main

import (
	"github.com/personalcrm/core/functions/routes/emails"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.EmailsSync, emails.NewSync) }
