// Gmail-watch runs daily: it makes or renews the Gmail watch of every
// mailbox that takes push notifications, so that Gmail publishes their
// changes to GOOGLE_PUBSUB_TOPIC.
package main

import (
	"github.com/personalcrm/core/functions/ops/gmailwatch"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.GmailWatch, gmailwatch.New) }
