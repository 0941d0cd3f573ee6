package contacts

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/platform"
)

// TimelineItem is one email or meeting with a contact.
type TimelineItem struct {
	Kind string    `json:"kind" enum:"email,meeting" doc:"What it is: fetch an email at GET /v1/emails/{id}"`
	ID   uuid.UUID `json:"id" format:"uuid" doc:"The email's or the meeting's id"`
	At   time.Time `json:"at" doc:"When it happened: when the email was sent (else received), when the meeting started"`
	// Title is the subject or the meeting's title.
	Title     *string `json:"title" nullable:"true" doc:"The email's subject or the meeting's title"`
	Direction *string `json:"direction,omitempty" enum:"sent,received" doc:"For an email: sent by the user, or received"`
}

// TimelinePage is a page of a timeline.
type TimelinePage struct {
	Items      []TimelineItem `json:"items"`
	NextCursor *string        `json:"nextCursor" nullable:"true" doc:"Pass as cursor for the next, older page; null on the last"`
}

// TimelineInput names the contact and the page.
type TimelineInput struct {
	ID     uuid.UUID `path:"id" format:"uuid" doc:"The contact's id"`
	Limit  int       `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Items per page"`
	Cursor string    `query:"cursor" maxLength:"512" doc:"nextCursor of the previous page"`
}

// TimelineOutput is a page of a contact's timeline.
type TimelineOutput struct {
	Body TimelinePage
}

// TimelineReader reads contacts' timelines.
type TimelineReader interface {
	Timeline(ctx context.Context, userID, id uuid.UUID, q contact.TimelineQuery) (contact.Timeline, error)
}

// Timeline answers GET /v1/contacts/{id}/timeline: the emails and meetings
// with the contact, newest first, a page at a time.
func Timeline(svc TimelineReader) api.Route {
	return api.Handle(catalog.ContactsTimeline, func(ctx context.Context, in *TimelineInput) (*TimelineOutput, error) {
		userID, err := auth.UserID(ctx)
		if err != nil {
			return nil, err
		}
		q := contact.TimelineQuery{Limit: in.Limit}
		if in.Cursor != "" {
			var c contact.TimelineCursor
			if err := api.DecodeCursor(in.Cursor, &c); err != nil {
				return nil, err
			}
			if c.ID == uuid.Nil || c.At.IsZero() {
				return nil, errs.Field("cursor", "is not a valid cursor")
			}
			q.After = &c
		}
		t, err := svc.Timeline(ctx, userID, in.ID, q)
		if err != nil {
			return nil, err
		}
		out := &TimelineOutput{}
		out.Body.Items = make([]TimelineItem, len(t.Items))
		for i, it := range t.Items {
			out.Body.Items[i] = TimelineItem{Kind: it.Kind, ID: it.ID, At: it.At.UTC(), Title: it.Title}
			if it.Direction != "" {
				d := it.Direction
				out.Body.Items[i].Direction = &d
			}
		}
		if t.Next != nil {
			next := api.EncodeCursor(t.Next)
			out.Body.NextCursor = &next
		}
		return out, nil
	})
}

// NewTimeline builds GET /v1/contacts/{id}/timeline.
func NewTimeline(app *platform.App) (api.Route, error) {
	return Timeline(contact.NewService(app.DB)), nil
}
