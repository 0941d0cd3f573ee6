// Email-sync consumes its SQS queue: it syncs one Google account's mail
// per job and enqueues contact extraction for each new message.
package main

import (
	"github.com/personalcrm/core/functions/jobs/emailsync"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.EmailSync, emailsync.New) }
