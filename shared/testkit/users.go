package testkit

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/db"
)

// User creates a user with email and a live session, and returns the
// user's id and session token.
func User(t testing.TB, pool *db.Pool, email string) (uuid.UUID, string) {
	t.Helper()
	ctx := context.Background()
	id := uuid.Must(uuid.NewV7())
	if _, err := pool.Exec(ctx, "insert into users (id, email) values ($1, $2)", id, email); err != nil {
		t.Fatalf("testkit: create user: %v", err)
	}
	token, _, err := auth.NewSessions(pool).Create(ctx, nil, id, auth.Meta{UserAgent: "testkit"})
	if err != nil {
		t.Fatalf("testkit: create session: %v", err)
	}
	return id, token
}
