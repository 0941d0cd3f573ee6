// Calendar-sync-request answers POST /v1/calendar/sync.
package main

import (
	"context"

	"github.com/personalcrm/core/functions/routes/calendar"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/meeting"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
)

func main() {
	app, err := platform.Init(context.Background(), catalog.CalendarSyncRequest)
	if err != nil {
		platform.Fatal(err)
	}
	api.Start(app, calendar.Sync(meeting.NewService(app.DB, nil, nil, queue.New(app.DB, sqsqueue.FromConfig(app.Config), app.Log))))
}
