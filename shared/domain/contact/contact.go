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
	CreatedAt         time.Time  `db:"created_at"`
	UpdatedAt         time.Time  `db:"updated_at"`
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
	return cache.GetOrLoad(ctx, s.cache, scope(userID), cache.Key("get", id), CacheTTL, func(ctx context.Context) (Contact, error) {
		return s.table.Get(ctx, s.db, userID, id)
	})
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
		out, err = s.table.Update(ctx, tx, userID, id, p.values())
		return conflictOnEmail(err)
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

// Cursor is a position in the list order.
type Cursor struct {
	SortKey string    `json:"k"`
	ID      uuid.UUID `json:"i"`
}

// Query selects a page of contacts.
type Query struct {
	// Search matches name, email or company, case-insensitively, anywhere.
	Search string
	Limit  int
	// After continues from a previous page.
	After *Cursor
}

// Page is one page of contacts; Next is nil on the last page.
type Page struct {
	Items []Contact
	Next  *Cursor
}

// List returns a page of the user's contacts in name order.
// Errors: Invalid (limit out of range).
func (s *Service) List(ctx context.Context, userID uuid.UUID, q Query) (Page, error) {
	var err error
	if q.Limit, err = db.PageLimit(q.Limit, DefaultLimit, MaxLimit); err != nil {
		return Page{}, err
	}
	q.Search = strings.TrimSpace(q.Search)
	var after Cursor
	if q.After != nil {
		after = *q.After
	}
	key := cache.Key("list", q.Search, q.Limit, q.After != nil, after.SortKey, after.ID)
	return cache.GetOrLoad(ctx, s.cache, scope(userID), key, CacheTTL, func(ctx context.Context) (Page, error) {
		return s.list(ctx, userID, q)
	})
}

func (s *Service) list(ctx context.Context, userID uuid.UUID, q Query) (Page, error) {
	args := []any{userID, q.Limit + 1}
	sql := "select " + s.table.Columns() + " from contacts where user_id = $1"
	if q.After != nil {
		args = append(args, q.After.SortKey, q.After.ID)
		sql += " and (sort_key, id) > ($3, $4)"
	}
	if search := q.Search; search != "" {
		args = append(args, db.ContainsPattern(strings.ToLower(search)))
		// The expression matches the trigram index contacts_search_idx.
		sql += fmt.Sprintf(" and (coalesce(name, '') || ' ' || coalesce(email, '') || ' ' || coalesce(company, '')) ilike $%d", len(args))
	}
	sql += " order by sort_key, id limit $2"
	items, err := s.table.ScanAll(s.db.Query(ctx, sql, args...))
	if err != nil {
		return Page{}, err
	}
	page := Page{Items: items}
	if len(items) > q.Limit {
		page.Items = items[:q.Limit]
		last := page.Items[q.Limit-1]
		page.Next = &Cursor{SortKey: last.SortKey, ID: last.ID}
	}
	return page, nil
}
