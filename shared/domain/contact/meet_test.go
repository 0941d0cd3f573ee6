package contact_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/testkit"
)

// TestEnsureAndRecount: Ensure makes addresses contacts under the rules of
// mail extraction and counts nothing; Recount sets the figures exactly
// from the emails and meetings a contact is linked to.
func TestEnsureAndRecount(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	user, _ := testkit.User(t, pool, "me@example.com")
	svc := contact.NewService(pool)
	named, err := svc.Create(ctx, user, contact.Fields{Email: ptr("grace@example.com"), Name: ptr("Amazing Grace")})
	if err != nil {
		t.Fatal(err)
	}
	var ids map[string]uuid.UUID
	err = db.InTx(ctx, pool, func(tx db.Tx) error {
		ids, err = svc.Ensure(ctx, tx, user, []string{"Grace@Example.com", "alan@example.org", "not an address", "alan@example.org"},
			[]string{"Grace Hopper", "Alan Turing", "", ""})
		return err
	})
	if err != nil || len(ids) != 2 || ids["grace@example.com"] != named.ID {
		t.Fatalf("ids %v: %v", ids, err)
	}
	got := byEmail(t, svc, user)
	if *got["grace@example.com"].Name != "Amazing Grace" || *got["alan@example.org"].Name != "Alan Turing" || got["alan@example.org"].InteractionCount != 0 {
		t.Fatalf("contacts %+v", got)
	}

	// Grace: an email at noon and a meeting at three; Alan: none.
	email := newEmail(t, pool, user)
	noon := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	three := noon.Add(3 * time.Hour)
	account := uuid.Must(uuid.NewV7())
	event := uuid.Must(uuid.NewV7())
	for _, sql := range []string{
		`update emails set sent_at = '2026-05-01T12:00:00Z' where id = '` + email.String() + `'`,
		`insert into email_contacts (email_id, contact_id, user_id, role) values ('` + email.String() + `', '` + named.ID.String() + `', '` + user.String() + `', 'from')`,
		`insert into accounts (id, user_id, provider, provider_account_id) values ('` + account.String() + `', '` + user.String() + `', 'google', 'sub')`,
		`insert into calendar_events (id, user_id, account_id, google_id, starts_at, ends_at, status) values ('` + event.String() + `', '` + user.String() + `', '` + account.String() + `', 'e1', '2026-05-01T15:00:00Z', '2026-05-01T16:00:00Z', 'confirmed')`,
		`insert into event_contacts (event_id, contact_id, user_id, starts_at, response, role) values ('` + event.String() + `', '` + named.ID.String() + `', '` + user.String() + `', '2026-05-01T15:00:00Z', 'accepted', 'required')`,
		`update contacts set interaction_count = 9 where id = '` + ids["alan@example.org"].String() + `'`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	recount := func() int {
		t.Helper()
		var n int
		if err := db.InTx(ctx, pool, func(tx db.Tx) error {
			var err error
			n, err = svc.Recount(ctx, tx, user, []uuid.UUID{named.ID, ids["alan@example.org"]})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := recount(); n != 2 {
		t.Fatalf("%d recounted", n)
	}
	got = byEmail(t, svc, user)
	if g := got["grace@example.com"]; g.InteractionCount != 2 || g.LastInteractionAt == nil || !g.LastInteractionAt.Equal(three) {
		t.Errorf("grace: %d, %v", g.InteractionCount, g.LastInteractionAt)
	}
	if a := got["alan@example.org"]; a.InteractionCount != 0 || a.LastInteractionAt != nil {
		t.Errorf("alan: %d, %v", a.InteractionCount, a.LastInteractionAt)
	}
	if n := recount(); n != 0 {
		t.Errorf("a second recount changed %d contacts", n)
	}
	if _, err := pool.Exec(ctx, `delete from calendar_events where id = $1`, event); err != nil {
		t.Fatal(err)
	}
	recount()
	if g := byEmail(t, svc, user)["grace@example.com"]; g.InteractionCount != 1 || !g.LastInteractionAt.Equal(noon) {
		t.Errorf("grace without the meeting: %d, %v", g.InteractionCount, g.LastInteractionAt)
	}
}

// TestEnsureSeesAContactInsertedMeanwhile: when another transaction
// inserts one of the addresses while Ensure runs (mail extraction and a
// calendar sync meeting the same new person), Ensure waits for it and
// answers that contact's id instead of leaving the address out.
func TestEnsureSeesAContactInsertedMeanwhile(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	user, _ := testkit.User(t, pool, "me@example.com")
	svc := contact.NewService(pool)

	other, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback(ctx)
	inserted := uuid.Must(uuid.NewV7())
	if _, err := other.Exec(ctx, `insert into contacts (id, user_id, email, name, name_source) values ($1, $2, 'grace@example.com', 'Grace Hopper', 'email')`, inserted, user); err != nil {
		t.Fatal(err)
	}

	type result struct {
		ids map[string]uuid.UUID
		err error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		r.err = db.InTx(ctx, pool, func(tx db.Tx) error {
			var err error
			r.ids, err = svc.Ensure(ctx, tx, user, []string{"grace@example.com"}, []string{"Grace"})
			return err
		})
		done <- r
	}()
	// Ensure waits for the other transaction's row.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var waiting int
		if err := pool.QueryRow(ctx, `select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Ensure never waited for the other transaction")
		}
	}
	if err := other.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := r.ids["grace@example.com"]; got != inserted {
		t.Errorf("Ensure answered %v for grace@example.com, want the contact inserted meanwhile, %v", got, inserted)
	}
}
