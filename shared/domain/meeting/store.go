package meeting

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/queue"
)

// Store is the database the service works on.
type Store interface {
	db.Querier
	db.Beginner
}

// Service stores synced events and turns them into meetings.
type Service struct {
	db       Store
	contacts Contacts
	policy   Policy
	queue    *queue.Queue
}

// NewService returns the meeting service on store: contacts makes
// attendees contacts, under policy (the rules of mail extraction); syncs
// are enqueued on q. A service that only takes requests to sync
// (RequestSync, SyncAfterSignIn, RequestDue) needs neither contacts nor
// policy.
func NewService(store Store, contacts Contacts, policy Policy, q *queue.Queue) *Service {
	return &Service{db: store, contacts: contacts, policy: policy, queue: q}
}

// Own returns the user's own addresses as mail extraction knows them:
// the user's address and those of the mailboxes their mail was synced
// from. An event's attendee with one of them is the user.
func (s *Service) Own(ctx context.Context, userID uuid.UUID) ([]string, error) {
	rows, err := s.db.Query(ctx, `select email from users where id = $1
		union select distinct mailbox from emails where user_id = $1 and mailbox is not null`, userID)
	if err != nil {
		return nil, db.Err(err, "user")
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, db.Err(err, "user")
}

// Applied says what Apply changed.
type Applied struct {
	// Stored counts the events stored or changed; Removed those that
	// went (cancelled, declined, or a meeting with nobody).
	Stored, Removed int
	// Linked counts the events that became meetings now; Recounted the
	// contacts whose interaction figures changed.
	Linked, Recounted int
}

// row is an event as calendar_events holds it.
type row struct {
	ID          string     `json:"id"`
	Generation  int        `json:"generation"`
	GoogleID    string     `json:"google_id"`
	RecurringID *string    `json:"recurring_event_id"`
	Title       *string    `json:"title"`
	Location    *string    `json:"location"`
	StartsAt    time.Time  `json:"starts_at"`
	EndsAt      time.Time  `json:"ends_at"`
	AllDay      bool       `json:"all_day"`
	Status      string     `json:"status"`
	Organizer   *string    `json:"organizer_email"`
	Attendees   []Guest    `json:"attendees"`
	Updated     *time.Time `json:"google_updated_at"`
}

// Page is a page of the events of a user's account, as a sync lists
// them.
type Page struct {
	UserID, AccountID uuid.UUID
	Events            []Event
	// Own are the user's addresses (Own).
	Own []string
	// Now is when the page is applied: events that ended by then are
	// meetings.
	Now time.Time
	// Generation is the full sync of the account (SyncState.Generation);
	// Full says a full sync listed the page.
	Generation int
	Full       bool
	// Sweep, on the last page of a full sync, removes the account's
	// events of the window WindowStart to WindowEnd that the full sync
	// did not list: they were deleted while no sync token reached them.
	Sweep                  bool
	WindowStart, WindowEnd time.Time
}

// Apply records a page of the events of the user's account in q (the
// caller's transaction), with a fixed number of statements whatever the
// page's size:
//
//   - an event that is a meeting with someone (Guests) is stored once per
//     account and Google id; a change of its time or guests makes it
//     become a meeting again;
//   - an event that is cancelled, that the user declined, or that is a
//     meeting with nobody is removed, with its links to contacts;
//   - every stored event of the account that has ended and is not linked
//     yet becomes a meeting: its guests become contacts (the rules of mail
//     extraction: a name the user set is never replaced) and are linked
//     to it. Events still to come are stored but count only once they end.
//
// The interaction figures of every contact whose links changed are then
// recounted exactly. Applying the same page again changes nothing. After
// the transaction commits, call Changed when anything was linked,
// removed or recounted.
func (s *Service) Apply(ctx context.Context, q db.Querier, p Page) (Applied, error) {
	var out Applied
	userID, accountID, own, now := p.UserID, p.AccountID, p.Own, p.Now
	events := p.Events
	// The last listing of an event in the page decides: stored (a row) or
	// removed (nil).
	last := map[string]*row{}
	var order []string
	for _, e := range events {
		if e.GoogleID == "" {
			continue
		}
		if _, seen := last[e.GoogleID]; !seen {
			order = append(order, e.GoogleID)
		}
		guests := Guests(e, own, s.policy)
		if len(guests) == 0 || e.Start.IsZero() || e.End.Before(e.Start) {
			last[e.GoogleID] = nil
			continue
		}
		id, err := uuid.NewV7()
		if err != nil {
			return out, err
		}
		r := &row{ID: id.String(), Generation: p.Generation, GoogleID: e.GoogleID, RecurringID: nullable(e.RecurringID), Title: nullable(clip(e.Title, 1000)),
			Location: nullable(clip(e.Location, 1000)), StartsAt: e.Start.UTC(), EndsAt: e.End.UTC(), AllDay: e.AllDay,
			Status: e.Status, Organizer: nullable(lower(e.Organizer)), Attendees: guests}
		if r.Status != "tentative" {
			r.Status = "confirmed"
		}
		if !e.Updated.IsZero() {
			u := e.Updated.UTC()
			r.Updated = &u
		}
		last[e.GoogleID] = r
	}
	var rows []row
	var gone []string
	for _, id := range order {
		if r := last[id]; r != nil {
			rows = append(rows, *r)
		} else {
			gone = append(gone, id)
		}
	}
	var touched []uuid.UUID
	if len(rows) > 0 {
		doc, err := json.Marshal(rows)
		if err != nil {
			return out, err
		}
		tag, err := q.Exec(ctx, `insert into calendar_events (id, user_id, account_id, google_id, recurring_event_id, title, location,
				starts_at, ends_at, all_day, status, organizer_email, attendees, google_updated_at, generation)
			select t.id, $1, $2, t.google_id, t.recurring_event_id, t.title, t.location, t.starts_at, t.ends_at, t.all_day,
				t.status, t.organizer_email, t.attendees, t.google_updated_at, t.generation
			from jsonb_to_recordset($3::jsonb) as t(id uuid, generation integer, google_id text, recurring_event_id text, title text, location text,
				starts_at timestamptz, ends_at timestamptz, all_day boolean, status text, organizer_email text, attendees jsonb,
				google_updated_at timestamptz)
			where exists (select 1 from accounts where id = $2 and user_id = $1)
			order by t.google_id
			on conflict (account_id, google_id) do update set recurring_event_id = excluded.recurring_event_id,
				title = excluded.title, location = excluded.location, starts_at = excluded.starts_at, ends_at = excluded.ends_at,
				all_day = excluded.all_day, status = excluded.status, organizer_email = excluded.organizer_email,
				attendees = excluded.attendees, google_updated_at = excluded.google_updated_at,
				generation = excluded.generation,
				updated_at = case when (`+content("calendar_events")+`) is distinct from (`+content("excluded")+`)
					then now() else calendar_events.updated_at end,
				linked_at = case when (calendar_events.starts_at, calendar_events.ends_at, calendar_events.attendees)
					is not distinct from (excluded.starts_at, excluded.ends_at, excluded.attendees) then calendar_events.linked_at end
			where calendar_events.user_id = excluded.user_id
				and (calendar_events.generation, `+content("calendar_events")+`) is distinct from (excluded.generation, `+content("excluded")+`)`,
			userID, accountID, string(doc))
		if err != nil {
			return out, fmt.Errorf("store events: %w", db.Err(err, "event"))
		}
		out.Stored = int(tag.RowsAffected())
	}
	if len(gone) > 0 || p.Sweep {
		// The links the removed events had: their contacts are recounted.
		// A recurring event that went takes its occurrences with it.
		var ids []string
		err := q.QueryRow(ctx, `with gone as (
				delete from calendar_events where account_id = $2 and user_id = $1 and (google_id = any($3::text[])
					or recurring_event_id = any($3::text[])
					or ($4 and generation < $5 and ends_at > $6 and starts_at < $7))
				returning id
			)
			select (select count(*) from gone), coalesce((select array_agg(distinct ec.contact_id::text) from event_contacts ec
				where ec.event_id in (select id from gone)), '{}')`,
			userID, accountID, gone, p.Sweep, p.Generation, p.WindowStart, p.WindowEnd).Scan(&out.Removed, &ids)
		if err != nil {
			return out, fmt.Errorf("remove events: %w", db.Err(err, "event"))
		}
		touched = append(touched, parseIDs(ids)...)
	}
	linked, contacts, err := s.link(ctx, q, userID, accountID, now)
	if err != nil {
		return out, err
	}
	out.Linked = linked
	touched = append(touched, contacts...)
	if len(touched) > 0 {
		if out.Recounted, err = s.contacts.Recount(ctx, q, userID, touched); err != nil {
			return out, err
		}
	}
	return out, nil
}

// link makes the account's stored events that ended by now and are not
// linked meetings: their guests become contacts, linked to them, and
// links left from an earlier version of an event go. It returns how many
// events it linked, and the contacts whose links changed.
func (s *Service) link(ctx context.Context, q db.Querier, userID, accountID uuid.UUID, now time.Time) (int, []uuid.UUID, error) {
	// An event moved to the future since it was linked counts again only
	// once it ends.
	var moved []string
	err := q.QueryRow(ctx, `with del as (
			delete from event_contacts ec using calendar_events e
			where e.id = ec.event_id and e.account_id = $1 and e.user_id = $2 and e.linked_at is null and e.ends_at > $3
			returning ec.contact_id
		)
		select coalesce(array_agg(distinct contact_id::text), '{}') from del`, accountID, userID, now).Scan(&moved)
	if err != nil {
		return 0, nil, fmt.Errorf("unlink future events: %w", db.Err(err, "event"))
	}
	rows, err := q.Query(ctx, `select id::text, starts_at, attendees from calendar_events
		where account_id = $1 and user_id = $2 and linked_at is null and ends_at <= $3
		for update`, accountID, userID, now)
	if err != nil {
		return 0, nil, fmt.Errorf("events to link: %w", db.Err(err, "event"))
	}
	type due struct {
		ID       string
		StartsAt time.Time
		Guests   []Guest
	}
	events, err := pgx.CollectRows(rows, pgx.RowToStructByPos[due])
	if err != nil || len(events) == 0 {
		return 0, parseIDs(moved), db.Err(err, "event")
	}
	var emails, names []string
	seen := map[string]bool{}
	for _, e := range events {
		for _, g := range e.Guests {
			if !seen[g.Email] {
				seen[g.Email] = true
				emails, names = append(emails, g.Email), append(names, g.Name)
			}
		}
	}
	ids, err := s.contacts.Ensure(ctx, q, userID, emails, names)
	if err != nil {
		return 0, nil, err
	}
	type link struct {
		EventID   string    `json:"event_id"`
		ContactID uuid.UUID `json:"contact_id"`
		StartsAt  time.Time `json:"starts_at"`
		Response  string    `json:"response"`
		Role      string    `json:"role"`
	}
	var links []link
	eventIDs := make([]string, len(events))
	for i, e := range events {
		eventIDs[i] = e.ID
		for _, g := range e.Guests {
			if c, ok := ids[g.Email]; ok {
				links = append(links, link{EventID: e.ID, ContactID: c, StartsAt: e.StartsAt, Response: g.Response, Role: g.Role})
			}
		}
	}
	doc, err := json.Marshal(links)
	if err != nil {
		return 0, nil, err
	}
	if links == nil {
		doc = []byte("[]")
	}
	// One statement: links that no longer hold go, new ones come, and
	// the events are marked linked.
	var changed []string
	err = q.QueryRow(ctx, `with t as (
			select * from jsonb_to_recordset($3::jsonb) as t(event_id uuid, contact_id uuid, starts_at timestamptz, response text, role text)
		), del as (
			delete from event_contacts ec where ec.user_id = $1 and ec.event_id = any($2::uuid[])
				and not exists (select 1 from t where t.event_id = ec.event_id and t.contact_id = ec.contact_id)
			returning ec.contact_id
		), ins as (
			insert into event_contacts (event_id, contact_id, user_id, starts_at, response, role)
			select t.event_id, t.contact_id, $1, t.starts_at, t.response, t.role from t
			order by t.event_id, t.contact_id
			on conflict (event_id, contact_id) do update
				set starts_at = excluded.starts_at, response = excluded.response, role = excluded.role
				where (event_contacts.starts_at, event_contacts.response, event_contacts.role)
					is distinct from (excluded.starts_at, excluded.response, excluded.role)
			returning contact_id
		), mark as (
			update calendar_events set linked_at = now() where user_id = $1 and id = any($2::uuid[])
		)
		select coalesce(array_agg(distinct c::text), '{}') from (select contact_id from del union all select contact_id from ins) as x(c)`,
		userID, eventIDs, string(doc)).Scan(&changed)
	if err != nil {
		return 0, nil, fmt.Errorf("link events: %w", db.Err(err, "event"))
	}
	return len(events), parseIDs(append(moved, changed...)), nil
}

// content are the columns of an event that Google's changes change, of
// the table t.
func content(t string) string {
	var b strings.Builder
	for i, c := range []string{"recurring_event_id", "title", "location", "starts_at", "ends_at", "all_day", "status",
		"organizer_email", "attendees", "google_updated_at"} {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(t + "." + c)
	}
	return b.String()
}

// Changed invalidates the user's cached contact reads after a
// transaction that linked or recounted contacts commits.
func (s *Service) Changed(ctx context.Context, userID uuid.UUID) { s.contacts.Changed(ctx, userID) }

func parseIDs(in []string) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(in))
	for _, s := range in {
		if id, err := uuid.Parse(s); err == nil {
			out = append(out, id)
		}
	}
	return out
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
