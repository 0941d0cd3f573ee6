// Package contact holds the rules of a user's contacts: who they are, how
// they are found, and that each belongs to exactly one user.
package contact

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
)

// Contact is a person a user deals with.
type Contact struct {
	ID                uuid.UUID  `db:"id"`
	UserID            uuid.UUID  `db:"user_id"`
	Email             *string    `db:"email"`
	Name              *string    `db:"name"`
	Company           *string    `db:"company"`
	JobTitle          *string    `db:"job_title"`
	Phone             *string    `db:"phone"`
	Notes             *string    `db:"notes"`
	InteractionCount  int        `db:"interaction_count"`
	LastInteractionAt *time.Time `db:"last_interaction_at"`
	// FirstInteractionAt is the time of the earliest email or meeting.
	FirstInteractionAt *time.Time `db:"first_interaction_at"`
	// EmailsSent counts the emails the user sent the contact (labelled
	// SENT, the contact not their sender); EmailsReceived the other emails
	// with the contact, as the timeline tells them apart (Sent, Received):
	// together they are the emails of InteractionCount. Meetings counts
	// the meetings held with the contact.
	EmailsSent     int `db:"emails_sent"`
	EmailsReceived int `db:"emails_received"`
	Meetings       int `db:"meetings"`
	// MeetingsLast90Days counts the meetings that started in the 90 days
	// before the read; it is counted when read, never stored.
	MeetingsLast90Days int       `db:"-"`
	CreatedAt          time.Time `db:"created_at"`
	UpdatedAt          time.Time `db:"updated_at"`
	// SortKey is the list order: name, else email, lower-cased.
	SortKey string `db:"sort_key"`
	// PhotoURL is a picture of the person, found by enrichment.
	PhotoURL *string `db:"photo_url"`
	// The last enrichment that changed the contact: when, from which
	// source, and whether the source knew the person; nil before any.
	EnrichedAt        *time.Time `db:"enriched_at"`
	EnrichedFrom      *string    `db:"enriched_from"`
	EnrichmentMatched *bool      `db:"enrichment_matched"`
}

// Limits on a contact's fields, in characters.
const (
	MaxEmail = 320
	MaxName  = 200
	MaxPhone = 50
	MaxNotes = 10000
)

// Store is the database the service works on.
type Store interface {
	db.Querier
	db.Beginner
}

// Service manages contacts. Every method takes the acting user and only
// ever sees that user's contacts: another user's id is NotFound.
type Service struct {
	db    Store
	table *db.Table[Contact]
	cache *cache.Cache
	// selectListed reads the user's ($1) contacts c with their recent
	// meetings, for list to add its conditions; getListed reads contact
	// $2. Built once, not per request.
	selectListed, getListed string
}

// Option configures a Service.
type Option func(*Service)

// WithCache serves Get and List from c, per user; every write through the
// service invalidates all of that user's cached reads at once.
func WithCache(c *cache.Cache) Option { return func(s *Service) { s.cache = c } }

// CacheTTL bounds how long a cached read lives. Writes invalidate at once;
// the TTL only limits how stale a read can be after a write whose
// invalidation could not reach the cache at all.
const CacheTTL = 2 * time.Minute

// NewService returns the contact service on store.
func NewService(store Store, opts ...Option) *Service {
	s := &Service{db: store, table: db.NewTable[Contact]("contacts", "contact")}
	s.selectListed = "select " + columns(s.table, "c") + ", " + recentMeetings + " from contacts c where c.user_id = $1"
	s.getListed = s.selectListed + " and c.id = $2"
	for _, o := range opts {
		o(s)
	}
	return s
}

// scope holds every cached read of one user's contacts.
func scope(userID uuid.UUID) cache.Scope {
	return cache.Scope{Name: "contacts", Owner: userID.String()}
}

// Scope is the cache scope of a user's contact reads, for dropping what
// the cache holds of a user who is gone.
func Scope(userID uuid.UUID) cache.Scope { return scope(userID) }

// changed invalidates the user's cached reads after a write.
func (s *Service) changed(ctx context.Context, userID uuid.UUID) {
	s.cache.Invalidate(ctx, scope(userID))
}

// Fields are a contact's editable fields. In a Patch, a nil field is left
// as it is and an empty one is cleared.
type Fields struct {
	Email, Name, Company, JobTitle, Phone, Notes *string
}

func (f Fields) values() db.Values {
	var v db.Values
	set := func(col string, p *string) {
		if p != nil {
			v = v.Set(col, nullable(*p))
		}
	}
	set("email", f.Email)
	set("name", f.Name)
	set("company", f.Company)
	set("job_title", f.JobTitle)
	set("phone", f.Phone)
	set("notes", f.Notes)
	return v
}

// normalize trims every field and checks lengths and the email's shape.
func (f *Fields) normalize() error {
	problems := errs.Fields{}
	check := func(name string, p *string, max int) {
		if p == nil {
			return
		}
		*p = strings.TrimSpace(*p)
		if utf8.RuneCountInString(*p) > max {
			problems.Add(name, fmt.Sprintf("must be at most %d characters", max))
		}
	}
	check("email", f.Email, MaxEmail)
	check("name", f.Name, MaxName)
	check("company", f.Company, MaxName)
	check("jobTitle", f.JobTitle, MaxName)
	check("phone", f.Phone, MaxPhone)
	check("notes", f.Notes, MaxNotes)
	if f.Email != nil && *f.Email != "" && !plausibleEmail(*f.Email) {
		problems.Add("email", "must be a valid email address")
	}
	return problems.Err()
}

func plausibleEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n<>,;")
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func empty(p *string) bool { return p == nil || *p == "" }

var errNameOrEmail = errs.Field("name", "is required when there is no email")

// Create adds a contact for userID. It needs a name or an email.
// Errors: Invalid, Conflict (the user has a contact with this email).
func (s *Service) Create(ctx context.Context, userID uuid.UUID, f Fields) (Contact, error) {
	if err := f.normalize(); err != nil {
		return Contact{}, err
	}
	if empty(f.Name) && empty(f.Email) {
		return Contact{}, errNameOrEmail
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Contact{}, err
	}
	c, err := s.table.Insert(ctx, s.db, userID, append(db.Values{{Column: "id", Value: id}}, f.values()...))
	if err != nil {
		return Contact{}, conflictOnEmail(err)
	}
	s.changed(ctx, userID)
	return c, nil
}

func conflictOnEmail(err error) error {
	if errs.Is(err, errs.KindConflict) {
		e, _ := errs.As(err)
		return &errs.Error{Kind: errs.KindConflict, Message: "A contact with this email already exists", Fields: map[string][]string{"email": {"is already used by another contact"}}, Err: e.Err}
	}
	return err
}

// GetLookup names the cache entry Get reads for the user's contact id,
// for reading it ahead (cache.ReadAhead).
func (s *Service) GetLookup(userID, id uuid.UUID) cache.Lookup {
	return cache.Lookup{Scope: scope(userID), Key: cache.Key("get", id)}
}

// Get returns the user's contact id. Errors: NotFound.
func (s *Service) Get(ctx context.Context, userID, id uuid.UUID) (Contact, error) {
	if s.cache == nil {
		// Without a cache, naming the entry would be work for nothing.
		return s.get(ctx, userID, id)
	}
	return cache.GetOrLoad(ctx, s.cache, scope(userID), cache.Key("get", id), CacheTTL, func(ctx context.Context) (Contact, error) {
		return s.get(ctx, userID, id)
	})
}

func (s *Service) get(ctx context.Context, userID, id uuid.UUID) (Contact, error) {
	rows, err := s.db.Query(ctx, s.getListed, userID, id)
	if err != nil {
		return Contact{}, db.Err(err, "contact")
	}
	l, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[listed])
	if err != nil {
		return Contact{}, db.Err(err, "contact")
	}
	l.Contact.MeetingsLast90Days = l.Recent
	return l.Contact, nil
}

// Update changes the fields of p that are set. A contact keeps a name or
// an email. Errors: NotFound, Invalid, Conflict.
func (s *Service) Update(ctx context.Context, userID, id uuid.UUID, p Fields) (Contact, error) {
	if err := p.normalize(); err != nil {
		return Contact{}, err
	}
	var out Contact
	err := db.InTx(ctx, s.db, func(tx db.Tx) error {
		cur, err := s.table.GetForUpdate(ctx, tx, userID, id)
		if err != nil {
			return err
		}
		name, email := cur.Name, cur.Email
		if p.Name != nil {
			name = p.Name
		}
		if p.Email != nil {
			email = p.Email
		}
		if empty(name) && empty(email) {
			return errNameOrEmail
		}
		if out, err = s.table.Update(ctx, tx, userID, id, p.values()); err != nil {
			return conflictOnEmail(err)
		}
		return tx.QueryRow(ctx, "select "+recentMeetings+" from (select $1::uuid as id) c", id).Scan(&out.MeetingsLast90Days)
	})
	if err != nil {
		return Contact{}, err
	}
	s.changed(ctx, userID)
	return out, nil
}

// Delete removes the user's contact id. Errors: NotFound.
func (s *Service) Delete(ctx context.Context, userID, id uuid.UUID) error {
	if err := s.table.Delete(ctx, s.db, userID, id); err != nil {
		return err
	}
	s.changed(ctx, userID)
	return nil
}

// Limits of a list page.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// Orders of a list.
const (
	// SortName is by name, else email (the default).
	SortName = "name"
	// SortLastInteraction is most recent interaction first.
	SortLastInteraction = "lastInteraction"
	// SortLastInteractionAsc is longest ago first.
	SortLastInteractionAsc = "lastInteractionAsc"
)

// MaxQuietFor bounds Query.QuietFor, in days (ten years).
const MaxQuietFor = 3650

// RecentDays is the window of Contact.MeetingsLast90Days.
const RecentDays = 90

// Cursor is a position in one list order; it names the order it belongs to.
type Cursor struct {
	// Sort is the order; empty is SortName.
	Sort    string     `json:"s,omitempty"`
	SortKey string     `json:"k,omitempty"`
	At      *time.Time `json:"t,omitempty"`
	ID      uuid.UUID  `json:"i"`
}

// Query selects a page of contacts.
type Query struct {
	// Search matches name, email or company, case-insensitively, anywhere.
	Search string
	// Sort is the order: SortName, SortLastInteraction or
	// SortLastInteractionAsc; empty is SortName, or SortLastInteractionAsc
	// with QuietFor. The orders by last interaction leave out contacts
	// without any.
	Sort string
	// QuietFor, when not zero, keeps the contacts with at least one
	// interaction whose last one is more than QuietFor days old.
	QuietFor int
	Limit    int
	// After continues from a previous page of the same order.
	After *Cursor
}

// Page is one page of contacts; Next is nil on the last page.
type Page struct {
	Items []Contact
	Next  *Cursor
}

// check settles the order and checks the query's fields.
func (q *Query) check() error {
	problems := errs.Fields{}
	var err error
	if q.Limit, err = db.PageLimit(q.Limit, DefaultLimit, MaxLimit); err != nil {
		return err
	}
	q.Search = strings.TrimSpace(q.Search)
	if q.QuietFor < 0 || q.QuietFor > MaxQuietFor {
		problems.Add("quietFor", fmt.Sprintf("must be from 1 to %d days", MaxQuietFor))
	}
	valid := true
	switch q.Sort {
	case "":
		q.Sort = SortName
		if q.QuietFor > 0 {
			q.Sort = SortLastInteractionAsc
		}
	case SortName, SortLastInteraction, SortLastInteractionAsc:
	default:
		valid = false
		problems.Add("sort", fmt.Sprintf("must be %s, %s or %s", SortName, SortLastInteraction, SortLastInteractionAsc))
	}
	if a := q.After; a != nil && valid {
		sort := a.Sort
		if sort == "" {
			sort = SortName
		}
		switch {
		case a.ID == uuid.Nil:
			problems.Add("cursor", "is not a valid cursor")
		case sort != q.Sort:
			problems.Add("cursor", "belongs to another sort order")
		case sort != SortName && a.At == nil:
			problems.Add("cursor", "is not a valid cursor")
		}
	}
	return problems.Err()
}

// List returns a page of the user's contacts in the query's order, each
// with its figures, MeetingsLast90Days counted as of now.
// Errors: Invalid (limit, sort, quietFor, or a cursor of another order).
func (s *Service) List(ctx context.Context, userID uuid.UUID, q Query) (Page, error) {
	if err := q.check(); err != nil {
		return Page{}, err
	}
	var after Cursor
	var at int64
	if q.After != nil {
		after = *q.After
		if after.At != nil {
			at = after.At.UnixMicro()
		}
	}
	key := cache.Key("list", q.Search, q.Sort, q.QuietFor, q.Limit, q.After != nil, after.SortKey, at, after.ID)
	return cache.GetOrLoad(ctx, s.cache, scope(userID), key, CacheTTL, func(ctx context.Context) (Page, error) {
		return s.list(ctx, userID, q)
	})
}

// listed is a contact as a list reads it, with its recent meetings.
type listed struct {
	Contact
	Recent int `db:"meetings_recent"`
}

// recentMeetings counts a contact c's meetings of the last RecentDays,
// through event_contacts_contact_starts_idx.
var recentMeetings = fmt.Sprintf(`(select count(*)::integer from event_contacts ev
	where ev.contact_id = c.id and ev.starts_at >= now() - interval '%d days') as meetings_recent`, RecentDays)

func (s *Service) list(ctx context.Context, userID uuid.UUID, q Query) (Page, error) {
	args := []any{userID, q.Limit + 1}
	sql := s.selectListed
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if q.Sort != SortName || q.QuietFor > 0 {
		// Matches the partial index contacts_user_last_interaction_idx.
		sql += " and c.last_interaction_at is not null"
	}
	if q.QuietFor > 0 {
		sql += " and c.last_interaction_at < now() - make_interval(days => " + arg(q.QuietFor) + ")"
	}
	if a := q.After; a != nil {
		switch q.Sort {
		case SortName:
			sql += " and (c.sort_key, c.id) > (" + arg(a.SortKey) + ", " + arg(a.ID) + ")"
		case SortLastInteraction:
			sql += " and (c.last_interaction_at, c.id) < (" + arg(*a.At) + ", " + arg(a.ID) + ")"
		case SortLastInteractionAsc:
			sql += " and (c.last_interaction_at, c.id) > (" + arg(*a.At) + ", " + arg(a.ID) + ")"
		}
	}
	if search := q.Search; search != "" {
		// The expression matches the trigram index contacts_search_idx.
		sql += " and (coalesce(c.name, '') || ' ' || coalesce(c.email, '') || ' ' || coalesce(c.company, '')) ilike " +
			arg(db.ContainsPattern(strings.ToLower(search)))
	}
	switch q.Sort {
	case SortName:
		sql += " order by c.sort_key, c.id"
	case SortLastInteraction:
		sql += " order by c.last_interaction_at desc, c.id desc"
	case SortLastInteractionAsc:
		sql += " order by c.last_interaction_at, c.id"
	}
	sql += " limit $2"
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return Page{}, db.Err(err, "contact")
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByName[listed])
	if err != nil {
		return Page{}, db.Err(err, "contact")
	}
	items := make([]Contact, len(got))
	for i, l := range got {
		items[i] = l.Contact
		items[i].MeetingsLast90Days = l.Recent
	}
	page := Page{Items: items}
	if len(items) > q.Limit {
		page.Items = items[:q.Limit]
		last := page.Items[q.Limit-1]
		page.Next = &Cursor{Sort: q.Sort, SortKey: last.SortKey, ID: last.ID}
		if q.Sort != SortName {
			page.Next.SortKey, page.Next.At = "", last.LastInteractionAt
		}
	}
	return page, nil
}

// columns is the select list of t's columns, of the table alias a.
func columns(t *db.Table[Contact], a string) string {
	cols := strings.Split(t.Columns(), ", ")
	for i, c := range cols {
		cols[i] = a + "." + c
	}
	return strings.Join(cols, ", ")
}
