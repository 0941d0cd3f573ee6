// Package emails serves the email routes: the wire shapes of a synced
// email, one handler per route, each calling one method of the email
// domain, and the request to sync now.
package emails

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/functions/routes/jobs"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/queue"
)

// Email is a synced email on the wire.
type Email struct {
	ID         uuid.UUID  `json:"id" format:"uuid"`
	AccountID  *uuid.UUID `json:"accountId" nullable:"true" format:"uuid" doc:"The account it was synced from"`
	ProviderID *string    `json:"providerId" nullable:"true" doc:"Gmail's id of the message"`
	ThreadID   *string    `json:"threadId" nullable:"true" doc:"Gmail's id of its thread"`
	Mailbox    *string    `json:"mailbox" nullable:"true" doc:"The user's address it was synced from"`
	MessageID  *string    `json:"messageId" nullable:"true" doc:"The Message-ID header"`
	Subject    *string    `json:"subject" nullable:"true"`
	Snippet    *string    `json:"snippet" nullable:"true" doc:"The start of its text"`
	From       *string    `json:"from" nullable:"true" doc:"The From header, as received"`
	To         *string    `json:"to" nullable:"true"`
	Cc         *string    `json:"cc" nullable:"true"`
	Bcc        *string    `json:"bcc" nullable:"true"`
	ReplyTo    *string    `json:"replyTo" nullable:"true"`
	Labels     []string   `json:"labels" doc:"Gmail's labels (INBOX, SENT, ...)"`
	SentAt     *time.Time `json:"sentAt" nullable:"true" doc:"The Date header"`
	ReceivedAt *time.Time `json:"receivedAt" nullable:"true" doc:"When the mailbox received it"`
	At         time.Time  `json:"at" doc:"When it happened: sent, else received, else stored; the list order"`
	CreatedAt  time.Time  `json:"createdAt"`
	UpdatedAt  time.Time  `json:"updatedAt"`
}

func toEmail(e email.Email) Email {
	labels := e.Labels
	if labels == nil {
		labels = []string{}
	}
	return Email{
		ID: e.ID, AccountID: e.AccountID, ProviderID: e.ProviderID, ThreadID: e.ThreadID, Mailbox: e.Mailbox,
		MessageID: e.MessageID, Subject: e.Subject, Snippet: e.Snippet,
		From: e.From, To: e.To, Cc: e.Cc, Bcc: e.Bcc, ReplyTo: e.ReplyTo, Labels: labels,
		SentAt: api.UTC(e.SentAt), ReceivedAt: api.UTC(e.ReceivedAt), At: e.At().UTC(),
		CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC(),
	}
}

// IDInput names one email in the path.
type IDInput struct {
	ID uuid.UUID `path:"id" format:"uuid" doc:"The email's id"`
}

// EmailOutput is one email.
type EmailOutput struct {
	Body Email
}

// Getter reads one email.
type Getter interface {
	Get(ctx context.Context, userID, id uuid.UUID) (email.Email, error)
}

// Get answers GET /v1/emails/{id}.
func Get(svc Getter) api.Route {
	return api.Handle(catalog.EmailsGet, func(ctx context.Context, in *IDInput) (*EmailOutput, error) {
		userID, err := auth.UserID(ctx)
		if err != nil {
			return nil, err
		}
		e, err := svc.Get(ctx, userID, in.ID)
		if err != nil {
			return nil, err
		}
		return &EmailOutput{Body: toEmail(e)}, nil
	})
}

// ListInput selects a page of emails.
type ListInput struct {
	ContactID string `query:"contactId" format:"uuid" doc:"Only the emails exchanged with this contact"`
	Q         string `query:"q" maxLength:"200" doc:"Matches subject, snippet or sender, anywhere, case-insensitively"`
	Limit     int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Emails per page"`
	Cursor    string `query:"cursor" maxLength:"512" doc:"nextCursor of the previous page"`
}

// EmailPage is a page of emails, newest first.
type EmailPage struct {
	Items      []Email `json:"items"`
	NextCursor *string `json:"nextCursor" nullable:"true" doc:"Pass as cursor for the next page; null on the last page"`
}

// ListOutput is a page of emails.
type ListOutput struct {
	Body EmailPage
}

// Lister pages through emails.
type Lister interface {
	List(ctx context.Context, userID uuid.UUID, q email.Query) (email.Page, error)
}

// List answers GET /v1/emails.
func List(svc Lister) api.Route {
	return api.Handle(catalog.EmailsList, func(ctx context.Context, in *ListInput) (*ListOutput, error) {
		userID, err := auth.UserID(ctx)
		if err != nil {
			return nil, err
		}
		q := email.Query{Search: in.Q, Limit: in.Limit}
		if in.ContactID != "" {
			id, err := uuid.Parse(in.ContactID)
			if err != nil {
				return nil, errs.Field("contactId", "must be a UUID")
			}
			q.ContactID = &id
		}
		if in.Cursor != "" {
			var c email.Cursor
			if err := api.DecodeCursor(in.Cursor, &c); err != nil {
				return nil, err
			}
			if c.ID == uuid.Nil || c.At.IsZero() {
				return nil, errs.Field("cursor", "is not a valid cursor")
			}
			q.After = &c
		}
		page, err := svc.List(ctx, userID, q)
		if err != nil {
			return nil, err
		}
		out := &ListOutput{}
		out.Body.Items = make([]Email, len(page.Items))
		for i, e := range page.Items {
			out.Body.Items[i] = toEmail(e)
		}
		if page.Next != nil {
			next := api.EncodeCursor(page.Next)
			out.Body.NextCursor = &next
		}
		return out, nil
	})
}

// SyncRequest asks for a sync.
type SyncRequest struct {
	Full bool `json:"full,omitempty" doc:"Re-read the newest mail of the whole mailbox, not only what changed since the last sync"`
}

// SyncInput is a request to sync.
type SyncInput struct {
	Body *SyncRequest
}

// SyncOutput is the sync's job.
type SyncOutput struct {
	Body jobs.Job
}

// Syncer enqueues syncs.
type Syncer interface {
	RequestSync(ctx context.Context, userID uuid.UUID, full bool) (queue.Job, error)
}

// Sync answers POST /v1/emails/sync: it enqueues a sync of the user's
// Google mail and answers its job, or the one already waiting or running.
// Follow it at GET /v1/jobs/{id}.
func Sync(svc Syncer) api.Route {
	return api.Handle(catalog.EmailsSync, func(ctx context.Context, in *SyncInput) (*SyncOutput, error) {
		userID, err := auth.UserID(ctx)
		if err != nil {
			return nil, err
		}
		full := in.Body != nil && in.Body.Full
		j, err := svc.RequestSync(ctx, userID, full)
		if err != nil {
			return nil, err
		}
		return &SyncOutput{Body: jobs.ToJob(j)}, nil
	}, api.Status(http.StatusAccepted), api.Errors(http.StatusForbidden, http.StatusNotFound))
}
