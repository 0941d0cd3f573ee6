// Package user holds the rules of the people who sign in: their profile
// and their per-user feature flags.
package user

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
)

// User is a person who signs in.
type User struct {
	ID        uuid.UUID       `db:"id"`
	Email     string          `db:"email"`
	Name      *string         `db:"name"`
	ImageURL  *string         `db:"image_url"`
	Features  map[string]bool `db:"features"`
	CreatedAt time.Time       `db:"created_at"`
	UpdatedAt time.Time       `db:"updated_at"`
}

const columns = "id, email, name, image_url, features, created_at, updated_at"

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

// EnsureByEmail returns the user with this email, creating it when there
// is none. Errors: Invalid (not an email address).
func (s *Service) EnsureByEmail(ctx context.Context, email string) (User, error) {
	email = strings.TrimSpace(email)
	if at := strings.LastIndexByte(email, '@'); at < 1 || at == len(email)-1 || len(email) > 320 || strings.ContainsAny(email, " <>,;") {
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

func collect(rows pgx.Rows, err error) (User, error) {
	if err != nil {
		return User{}, db.Err(err, "user")
	}
	u, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[User])
	return u, db.Err(err, "user")
}
