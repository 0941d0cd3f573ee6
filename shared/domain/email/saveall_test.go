package email_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/testkit"
)

// account creates a user with a Google account and returns their ids.
func account(t *testing.T, pool *db.Pool, addr string) (user, acct uuid.UUID) {
	t.Helper()
	user, _ = testkit.User(t, pool, addr)
	acct = uuid.Must(uuid.NewV7())
	if _, err := pool.Exec(context.Background(), `insert into accounts (id, user_id, provider, provider_account_id) values ($1, $2, 'google', $3)`,
		acct, user, addr); err != nil {
		t.Fatal(err)
	}
	return user, acct
}

func message(acct uuid.UUID, i int, labels ...string) email.Fields {
	sent := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
	return email.Fields{
		AccountID: &acct, ProviderID: fmt.Sprintf("m%d", i), ThreadID: "t", Mailbox: "me@mine.example",
		Subject: fmt.Sprintf("Hello %d", i), Snippet: fmt.Sprintf("snippet %d", i), From: fmt.Sprintf("P%d <p%d@example.com>", i, i),
		To: "me@mine.example", Headers: map[string]string{"List-Id": "x"}, Labels: labels, SentAt: &sent,
	}
}

func TestSaveAllStoresAPageOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testkit.DB(t)
	svc := email.NewService(pool)
	user, acct := account(t, pool, "me@mine.example")
	other, otherAcct := account(t, pool, "other@mine.example")

	// Another user's message with a provider id of the page is theirs.
	if _, _, err := svc.Save(ctx, pool, other, message(otherAcct, 2, "INBOX")); err != nil {
		t.Fatal(err)
	}
	// A known message, saved one at a time before.
	known, _, err := svc.Save(ctx, pool, user, message(acct, 1, "INBOX"))
	if err != nil {
		t.Fatal(err)
	}

	page := []email.Fields{message(acct, 1, "INBOX", "IMPORTANT"), message(acct, 2), message(acct, 3, "SENT"), message(acct, 2)}
	saved, err := svc.SaveAll(ctx, pool, user, page)
	if err != nil {
		t.Fatal(err)
	}
	if len(saved) != 3 || saved[0].ID != known.ID || saved[0].New || !saved[1].New || !saved[2].New ||
		saved[1].ProviderID != "m2" || saved[2].ProviderID != "m3" {
		t.Fatalf("saved %+v", saved)
	}
	// As Save stores it: columns, labels and headers.
	e, err := svc.Get(ctx, user, saved[2].ID)
	if err != nil {
		t.Fatal(err)
	}
	if *e.Subject != "Hello 3" || *e.From != "P3 <p3@example.com>" || *e.Mailbox != "me@mine.example" || *e.AccountID != acct ||
		e.SentAt == nil || !e.SentAt.Equal(*page[2].SentAt) || e.ReceivedAt != nil || len(e.Labels) != 1 || e.Labels[0] != "SENT" ||
		e.Headers["list-id"] != "x" || e.Cc != nil {
		t.Errorf("stored %+v", e)
	}
	if e, err := svc.Get(ctx, user, saved[1].ID); err != nil || len(e.Labels) != 0 {
		t.Errorf("no labels stored as %v: %v", e.Labels, err)
	}
	// A known message keeps its row and takes the page's labels.
	if e, err := svc.Get(ctx, user, known.ID); err != nil || len(e.Labels) != 2 {
		t.Errorf("known message labels %v: %v", e.Labels, err)
	}

	// The page again changes nothing.
	again, err := svc.SaveAll(ctx, pool, user, page)
	if err != nil {
		t.Fatal(err)
	}
	for i := range again {
		if again[i].ID != saved[i].ID || again[i].New {
			t.Errorf("again %d: %+v, was %+v", i, again[i], saved[i])
		}
	}
	var mine, theirs int
	if err := pool.QueryRow(ctx, `select (select count(*) from emails where user_id = $1), (select count(*) from emails where user_id = $2)`,
		user, other).Scan(&mine, &theirs); err != nil || mine != 3 || theirs != 1 {
		t.Fatalf("%d emails of the user, %d of the other: %v", mine, theirs, err)
	}
}

func TestSaveAllRefusesBadPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testkit.DB(t)
	svc := email.NewService(pool)
	user, acct := account(t, pool, "me@mine.example")

	noID := message(acct, 2)
	noID.ProviderID = ""
	if _, err := svc.SaveAll(ctx, pool, user, []email.Fields{message(acct, 1), noID}); err == nil {
		t.Error("a message without a provider id saved")
	}
	if _, err := svc.SaveAll(ctx, pool, uuid.New(), []email.Fields{message(acct, 1)}); !errs.Is(err, errs.KindNotFound) {
		t.Errorf("unknown user: %v", err)
	}
	if saved, err := svc.SaveAll(ctx, pool, user, nil); err != nil || len(saved) != 0 {
		t.Errorf("empty page: %v %v", saved, err)
	}
	var n int
	if err := pool.QueryRow(ctx, `select count(*) from emails`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d emails stored: %v", n, err)
	}
}
