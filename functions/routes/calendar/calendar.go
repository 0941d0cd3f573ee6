// Package calendar serves the calendar routes: the request to sync the
// user's Google Calendar now.
package calendar

import (
	"context"
	"net/http"

	"github.com/google/uuid"

	"github.com/personalcrm/core/functions/routes/jobs"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/meeting"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
)

// SyncCalendarRequest asks for a calendar sync.
type SyncCalendarRequest struct {
	Full bool `json:"full,omitempty" doc:"Re-read the whole calendar window (12 months back, 3 ahead), not only what changed since the last sync"`
}

// SyncCalendarInput is a request to sync.
type SyncCalendarInput struct {
	Body *SyncCalendarRequest
}

// SyncCalendarOutput is the sync's job.
type SyncCalendarOutput struct {
	Body jobs.Job
}

// Syncer enqueues calendar syncs; meeting.Service is one.
type Syncer interface {
	RequestSync(ctx context.Context, userID uuid.UUID, full bool) (queue.Job, error)
}

// Sync answers POST /v1/calendar/sync: it enqueues a sync of the user's
// Google Calendar and answers its job, or the one already waiting or
// running. Follow it at GET /v1/jobs/{id}. An account that did not grant
// the calendar, or whose grant must be renewed, is refused with 403.
func Sync(svc Syncer) api.Route {
	return api.Handle(catalog.CalendarSyncRequest, func(ctx context.Context, in *SyncCalendarInput) (*SyncCalendarOutput, error) {
		userID, err := auth.UserID(ctx)
		if err != nil {
			return nil, err
		}
		j, err := svc.RequestSync(ctx, userID, in.Body != nil && in.Body.Full)
		if err != nil {
			return nil, err
		}
		return &SyncCalendarOutput{Body: jobs.ToJob(j)}, nil
	}, api.Status(http.StatusAccepted), api.Errors(http.StatusForbidden, http.StatusNotFound))
}

// NewSync builds POST /v1/calendar/sync; it enqueues on SQS.
func NewSync(app *platform.App) (api.Route, error) {
	return Sync(meeting.NewService(app.DB, nil, nil, sqsqueue.Queue(app))), nil
}
