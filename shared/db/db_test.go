package db_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/testkit"
)

type note struct {
	ID        uuid.UUID `db:"id"`
	UserID    uuid.UUID `db:"user_id"`
	Body      string    `db:"body"`
	Tag       *string   `db:"tag"`
	UpdatedAt time.Time `db:"updated_at"`
}

func setup(t *testing.T) (*db.Pool, *db.Table[note], uuid.UUID, uuid.UUID) {
	t.Helper()
	d := testkit.NewDatabase(t)
	pool := d.Pool(t)
	ctx := context.Background()
	// The schema's owner creates the table, as a migration would, and
	// grants the runtime role what migrate grants it.
	_, err := d.OwnerPool(t).Exec(ctx, `create table notes (
		id uuid primary key, user_id uuid not null references users(id), body text not null,
		tag text unique, updated_at timestamptz not null default now());
		grant select, insert, update, delete on notes to `+config.DatabaseAppRole)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := testkit.User(t, pool, "a@example.com")
	b, _ := testkit.User(t, pool, "b@example.com")
	return pool, db.NewTable[note]("notes", "note"), a, b
}

func TestTableScopesEveryStatementToItsUser(t *testing.T) {
	t.Parallel()
	pool, notes, alice, bob := setup(t)
	ctx := context.Background()
	id := uuid.Must(uuid.NewV7())
	n, err := notes.Insert(ctx, pool, alice, db.Values{{"id", id}, {"body", "hello"}})
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
	if n.UserID != alice {
		t.Fatalf("insert: user %v, want %v", n.UserID, alice)
	}
	if n.Body != "hello" {
		t.Fatalf("insert: body %q, want hello", n.Body)
	}
	if _, err := notes.Get(ctx, pool, bob, id); !errs.Is(err, errs.KindNotFound) {
		t.Fatalf("bob gets alice's note: %v", err)
	}
	if _, err := notes.Update(ctx, pool, bob, id, db.Values{{"body", "bob's"}}); !errs.Is(err, errs.KindNotFound) {
		t.Fatalf("bob updates alice's note: %v", err)
	}
	if err := notes.Delete(ctx, pool, bob, id); !errs.Is(err, errs.KindNotFound) {
		t.Fatalf("bob deletes alice's note: %v", err)
	}
	got, err := notes.Get(ctx, pool, alice, id)
	if err != nil {
		t.Fatalf("alice's note: %v", err)
	}
	if got.Body != "hello" {
		t.Fatalf("alice's note changed: body %q, want hello", got.Body)
	}
	upd, err := notes.Update(ctx, pool, alice, id, db.Values{{"body", "changed"}})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if upd.Body != "changed" {
		t.Fatalf("update: body %q, want changed", upd.Body)
	}
	if upd.UpdatedAt.Before(n.UpdatedAt) {
		t.Fatalf("update: updated at %s, before the insert's %s", upd.UpdatedAt, n.UpdatedAt)
	}
	if err := notes.Delete(ctx, pool, alice, id); err != nil {
		t.Fatal(err)
	}
	if err := notes.Delete(ctx, pool, alice, id); !errs.Is(err, errs.KindNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestErrTranslation(t *testing.T) {
	t.Parallel()
	pool, notes, alice, _ := setup(t)
	ctx := context.Background()
	tag := "x"
	if _, err := notes.Insert(ctx, pool, alice, db.Values{{"id", uuid.New()}, {"body", "a"}, {"tag", &tag}}); err != nil {
		t.Fatal(err)
	}
	_, err := notes.Insert(ctx, pool, alice, db.Values{{"id", uuid.New()}, {"body", "b"}, {"tag", &tag}})
	if !errs.Is(err, errs.KindConflict) {
		t.Fatalf("unique violation: %v", err)
	}
	_, err = notes.Insert(ctx, pool, uuid.New(), db.Values{{"id", uuid.New()}, {"body", "c"}})
	if !errs.Is(err, errs.KindNotFound) {
		t.Fatalf("foreign key violation: %v", err)
	}
	_, err = pool.Exec(ctx, "select 1/0")
	if err = db.Err(err, "x"); errs.KindOf(err) != errs.KindInternal || err == nil {
		t.Fatalf("other errors stay internal: %v", err)
	}
}

func TestUnknownColumnPanics(t *testing.T) {
	t.Parallel()
	pool, notes, alice, _ := setup(t)
	defer func() {
		if recover() == nil {
			t.Fatal("writing user_id or an unknown column did not panic")
		}
	}()
	notes.Update(context.Background(), pool, alice, uuid.New(), db.Values{{"user_id", uuid.New()}})
}

func TestInTxRollsBack(t *testing.T) {
	t.Parallel()
	pool, notes, alice, _ := setup(t)
	ctx := context.Background()
	boom := errors.New("boom")
	err := db.InTx(ctx, pool, func(tx db.Tx) error {
		if _, err := notes.Insert(ctx, tx, alice, db.Values{{"id", uuid.New()}, {"body", "x"}}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx returned %v", err)
	}
	var n int
	pool.QueryRow(ctx, "select count(*) from notes").Scan(&n)
	if n != 0 {
		t.Fatalf("rolled-back insert is visible")
	}
}

func TestOpenDoesNotConnect(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1: Open must still succeed, the first query fail.
	pool, err := db.Open(context.Background(), "postgres://nobody:secret-pw@127.0.0.1:1/x?connect_timeout=1", db.Options{Mode: db.Lambda})
	if err != nil {
		t.Fatalf("Open connected at init: %v", err)
	}
	defer pool.Close()
	if err := db.Ping(context.Background(), pool); !errs.Is(db.Err(err, "db"), errs.KindUnavailable) {
		t.Fatalf("unreachable database is not Unavailable: %v", err)
	}
	if _, err := db.Open(context.Background(), "postgres://u:secret-pw@host:notaport/x", db.Options{}); err == nil || contains(err.Error(), "secret-pw") {
		t.Fatalf("parse error leaks the password or is missing: %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestPageLimit(t *testing.T) {
	for _, c := range []struct{ in, want int }{{0, 20}, {1, 1}, {100, 100}} {
		if got, err := db.PageLimit(c.in, 20, 100); err != nil {
			t.Errorf("PageLimit(%d): %v", c.in, err)
		} else if got != c.want {
			t.Errorf("PageLimit(%d) = %d, want %d", c.in, got, c.want)
		}
	}
	for _, in := range []int{-1, 101} {
		if _, err := db.PageLimit(in, 20, 100); !errs.Is(err, errs.KindInvalid) {
			t.Errorf("PageLimit(%d): %v, want a limit field error", in, err)
		}
	}
}
