// Calendar-sync-request answers POST /v1/calendar/sync.
package main

import (
	"github.com/personalcrm/core/functions/routes/calendar"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/platform"
)

func main() { platform.Main(catalog.CalendarSyncRequest, calendar.NewSync) }
