// Webhooks-gmail answers POST /webhooks/gmail.
package main

import (
	"github.com/personalcrm/core/functions/routes/webhooks"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.WebhooksGmail, webhooks.NewGmail) }
