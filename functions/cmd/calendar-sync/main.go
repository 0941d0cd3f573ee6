// Calendar-sync consumes its SQS queue: it syncs one Google account's
// calendar per job and records its past meetings as interactions.
package main

import (
	"github.com/personalcrm/core/functions/jobs/calendarsync"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.CalendarSync, calendarsync.New) }
