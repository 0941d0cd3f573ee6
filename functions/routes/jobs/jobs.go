// Package jobs serves the job routes: the state of a background job, for
// the user it works for.
package jobs

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/queue"
)

// Job is a job's state on the wire. Its data and the operators' error
// detail are not shown.
type Job struct {
	ID    uuid.UUID `json:"id" format:"uuid"`
	Type  string    `json:"type" doc:"The job type" example:"email-sync"`
	State string    `json:"state" enum:"pending,sent,running,succeeded,failed,dead" doc:"pending: not yet queued; sent: queued; running; succeeded; failed: will be retried; dead: failed for good"`
	// Attempts counts the attempts started, MaxAttempts how many it gets.
	Attempts    int        `json:"attempts" doc:"Attempts started so far"`
	MaxAttempts int        `json:"maxAttempts" doc:"Attempts the job gets before it is dead"`
	LastError   *string    `json:"lastError" nullable:"true" doc:"Why the latest attempt failed"`
	RunAt       time.Time  `json:"runAt" doc:"When the job is due: its next attempt, while it waits"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
	StartedAt   *time.Time `json:"startedAt" nullable:"true" doc:"When the latest attempt started"`
	FinishedAt  *time.Time `json:"finishedAt" nullable:"true" doc:"When it succeeded or died"`
}

// ToJob is j on the wire.
func ToJob(j queue.Job) Job {
	return Job{
		ID: j.ID, Type: j.Kind, State: string(j.State), Attempts: j.Attempts, MaxAttempts: j.MaxAttempts,
		LastError: j.LastError, RunAt: j.RunAt.UTC(), CreatedAt: j.CreatedAt.UTC(), UpdatedAt: j.UpdatedAt.UTC(),
		StartedAt: api.UTC(j.StartedAt), FinishedAt: api.UTC(j.FinishedAt),
	}
}

// IDInput names one job in the path.
type IDInput struct {
	ID uuid.UUID `path:"id" format:"uuid" doc:"The job's id"`
}

// JobOutput is one job.
type JobOutput struct {
	Body Job
}

// Getter reads one of the user's jobs.
type Getter interface {
	Get(ctx context.Context, userID, id uuid.UUID) (queue.Job, error)
}

// Get answers GET /v1/jobs/{id}: another user's job is not found.
func Get(svc Getter) api.Route {
	return api.Handle(catalog.JobsGet, func(ctx context.Context, in *IDInput) (*JobOutput, error) {
		userID, err := auth.UserID(ctx)
		if err != nil {
			return nil, err
		}
		j, err := svc.Get(ctx, userID, in.ID)
		if err != nil {
			return nil, err
		}
		return &JobOutput{Body: ToJob(j)}, nil
	})
}
