package contact

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
)

// The kinds of a timeline's items.
const (
	KindEmail   = "email"
	KindMeeting = "meeting"
)

// The directions of an email on a timeline.
const (
	// Sent: the user wrote it (Gmail's SENT label) and the contact got it.
	Sent = "sent"
	// Received: the contact, or someone who copied them, wrote it.
	Received = "received"
)

// Item is one email or meeting with a contact.
type Item struct {
	Kind string
	// ID is the email's or the calendar event's id.
	ID uuid.UUID
	// At is when it happened: an email's time (sent, else received), a
	// meeting's start.
	At time.Time
	// Title is the email's subject or the meeting's title.
	Title *string
	// Direction is Sent or Received for an email, empty for a meeting.
	Direction string
}

// TimelineCursor is where a timeline page ends.
type TimelineCursor struct {
	At time.Time `json:"a"`
	ID uuid.UUID `json:"i"`
}

// TimelineQuery pages through a timeline, newest first.
type TimelineQuery struct {
	Limit int
	After *TimelineCursor
}

// Timeline is one page of a contact's timeline.
type Timeline struct {
	Items []Item
	Next  *TimelineCursor
}

// Timeline is the emails and meetings with the user's contact id, merged
// newest first, a page at a time (keyset, by time and id). Each source is
// read through its index on the contact, newest first, so a page costs
// two index range scans of at most a page each, however long the history.
// Errors: NotFound (no such contact of the user); Invalid (a bad limit).
func (s *Service) Timeline(ctx context.Context, userID, id uuid.UUID, q TimelineQuery) (Timeline, error) {
	var err error
	if q.Limit, err = db.PageLimit(q.Limit, DefaultLimit, MaxLimit); err != nil {
		return Timeline{}, err
	}
	// Past every item: the first page.
	after := TimelineCursor{At: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), ID: uuid.Max}
	if q.After != nil {
		after = *q.After
	}
	// Every link carries its user's id: another user's contact has none.
	// A link carries its email's time too (the database keeps it equal to
	// emails.sort_at), so the emails are read newest first from
	// email_contacts_contact_sort_idx and only a page of them is joined.
	rows, err := s.db.Query(ctx, `
		select kind, id, at, title, direction from (
			(select 'email' as kind, ec.email_id as id, ec.sort_at as at, e.subject as title,
				case when ec.role <> 'from' and 'SENT' = any(e.labels) then 'sent' else 'received' end as direction
			from email_contacts ec join emails e on e.id = ec.email_id
			where ec.contact_id = $2 and ec.user_id = $1 and (ec.sort_at, ec.email_id) < ($3, $4)
			order by ec.sort_at desc, ec.email_id desc limit $5)
			union all
			(select 'meeting', ev.id, x.starts_at, ev.title, ''
			from event_contacts x join calendar_events ev on ev.id = x.event_id
			where x.contact_id = $2 and x.user_id = $1 and (x.starts_at, x.event_id) < ($3, $4)
			order by x.starts_at desc, x.event_id desc limit $5)
		) t
		order by at desc, id desc limit $5`,
		userID, id, after.At, after.ID, q.Limit+1)
	if err != nil {
		return Timeline{}, fmt.Errorf("timeline: %w", db.Err(err, "contact"))
	}
	items, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Item])
	if err != nil {
		return Timeline{}, fmt.Errorf("timeline: %w", db.Err(err, "contact"))
	}
	if len(items) == 0 && !s.exists(ctx, userID, id) {
		return Timeline{}, errs.NotFound("contact")
	}
	t := Timeline{Items: items}
	if len(items) > q.Limit {
		t.Items = items[:q.Limit]
		last := t.Items[q.Limit-1]
		t.Next = &TimelineCursor{At: last.At, ID: last.ID}
	}
	return t, nil
}

// exists reports whether id is one of the user's contacts.
func (s *Service) exists(ctx context.Context, userID, id uuid.UUID) bool {
	var ok bool
	err := s.db.QueryRow(ctx, `select exists (select 1 from contacts where id = $2 and user_id = $1)`, userID, id).Scan(&ok)
	return err == nil && ok
}
