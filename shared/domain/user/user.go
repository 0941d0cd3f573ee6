// Package user holds the rules of the people who sign in: who they are
// (found by their Google subject, not by email alone), their profile, and
// their per-user feature flags.
package user

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/google"
)

// User is a person who signs in.
type User struct {
	ID        uuid.UUID `db:"id"`
	Email     string    `db:"email"`
	Name      *string   `db:"name"`
	ImageURL  *string   `db:"image_url"`
	Features  Settings  `db:"features"`
	CreatedAt time.Time `db:"created_at"`
	UpdatedAt time.Time `db:"updated_at"`
	// NeedsReconsent is true when the user's Google grant is gone and
	// they must sign in again for their mail to sync.
	NeedsReconsent bool `db:"needs_reconsent"`
	// GoogleConnected is true while the user has a Google account they
	// have not disconnected.
	GoogleConnected bool `db:"google_connected"`
}

// columns are User's, for select and returning lists on users.
const columns = `id, email, name, image_url, features, created_at, updated_at,
	exists (select 1 from accounts a where a.user_id = users.id and a.needs_reconsent) as needs_reconsent,
	exists (select 1 from accounts a where a.user_id = users.id and a.provider = '` + google.Provider + `' and a.disconnected_at is null) as google_connected`

// Settings are a user's own feature flag settings (users.features).
// Values other than booleans, which only a hand-written update could
// store, are left out.
type Settings map[string]bool

// UnmarshalJSON implements json.Unmarshaler.
func (s *Settings) UnmarshalJSON(b []byte) error {
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*s = make(Settings, len(raw))
	for k, v := range raw {
		if on, ok := v.(bool); ok {
			(*s)[k] = on
		}
	}
	return nil
}

// Limits on a user's fields, in characters.
const (
	MaxEmail    = 320
	MaxName     = 200
	MaxImageURL = 2048
)

// Store is the database the service works on.
type Store interface {
	db.Querier
	db.Beginner
}

// Service manages users.
type Service struct {
	db db.Querier
}

// NewService returns the user service on q.
func NewService(q db.Querier) *Service { return &Service{db: q} }

// Get returns user id. Errors: NotFound.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (User, error) {
	rows, err := s.db.Query(ctx, "select "+columns+" from users where id = $1", id)
	return collect(rows, err)
}

// FindByEmail returns the user with this email, in any case.
// Errors: NotFound.
func (s *Service) FindByEmail(ctx context.Context, email string) (User, error) {
	rows, err := s.db.Query(ctx, "select "+columns+" from users where lower(email) = lower($1)", strings.TrimSpace(email))
	return collect(rows, err)
}

func validEmail(email string) bool {
	at := strings.LastIndexByte(email, '@')
	return at >= 1 && at < len(email)-1 && len(email) <= MaxEmail && !strings.ContainsAny(email, " \t\r\n<>,;")
}

// EnsureByEmail returns the user with this email, creating it when there
// is none. Errors: Invalid (not an email address).
func (s *Service) EnsureByEmail(ctx context.Context, email string) (User, error) {
	email = strings.TrimSpace(email)
	if !validEmail(email) {
		return User{}, errs.Field("email", "must be a valid email address")
	}
	id, err := uuid.NewV7()
	if err != nil {
		return User{}, err
	}
	// The no-op update makes the existing row come back from RETURNING.
	rows, err := s.db.Query(ctx, `insert into users (id, email) values ($1, $2)
		on conflict (lower(email)) do update set email = users.email
		returning `+columns, id, email)
	return collect(rows, err)
}

// Patch changes a user's profile: a nil field is left as it is, an empty
// one is cleared.
type Patch struct {
	Name     *string
	ImageURL *string
}

// Update applies p to user id and returns the user.
// Errors: Invalid, NotFound.
func (s *Service) Update(ctx context.Context, id uuid.UUID, p Patch) (User, error) {
	problems := errs.Fields{}
	var sets []string
	args := []any{id}
	set := func(col string, v *string) {
		args = append(args, nullable(*v))
		sets = append(sets, fmt.Sprintf("%s = $%d", col, len(args)))
	}
	if p.Name != nil {
		name := strings.TrimSpace(*p.Name)
		if utf8.RuneCountInString(name) > MaxName {
			problems.Add("name", fmt.Sprintf("must be at most %d characters", MaxName))
		}
		set("name", &name)
	}
	if p.ImageURL != nil {
		img := strings.TrimSpace(*p.ImageURL)
		if img != "" && !validImageURL(img) {
			problems.Add("imageUrl", "must be an https URL")
		} else if len(img) > MaxImageURL {
			problems.Add("imageUrl", fmt.Sprintf("must be at most %d characters", MaxImageURL))
		}
		set("image_url", &img)
	}
	if err := problems.Err(); err != nil {
		return User{}, err
	}
	if len(sets) == 0 {
		return s.Get(ctx, id)
	}
	rows, err := s.db.Query(ctx, "update users set "+strings.Join(sets, ", ")+", updated_at = now() where id = $1 returning "+columns, args...)
	return collect(rows, err)
}

func validImageURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func collect(rows pgx.Rows, err error) (User, error) {
	if err != nil {
		return User{}, db.Err(err, "user")
	}
	u, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[User])
	return u, db.Err(err, "user")
}
