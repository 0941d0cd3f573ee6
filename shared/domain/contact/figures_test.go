package contact_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/testkit"
)

// figures are a contact's relationship figures, as compared here.
type figures struct {
	Count, Sent, Received, Meetings, Recent int
	First, Last                             *time.Time
}

func figuresOf(c contact.Contact) figures {
	f := figures{Count: c.InteractionCount, Sent: c.EmailsSent, Received: c.EmailsReceived, Meetings: c.Meetings, Recent: c.MeetingsLast90Days}
	if c.FirstInteractionAt != nil {
		t := c.FirstInteractionAt.UTC()
		f.First = &t
	}
	if c.LastInteractionAt != nil {
		t := c.LastInteractionAt.UTC()
		f.Last = &t
	}
	return f
}

// TestFiguresExact: the figures counted as mail is recorded, one email at
// a time or a page at once, and again on a re-run, are those Recount
// counts from scratch; after an email, a meeting or another contact goes,
// Recount of the contacts that lost links makes them exact again.
func TestFiguresExact(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	user, _ := testkit.User(t, pool, "me@example.com")
	svc := contact.NewService(pool)

	day := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	mail := func(at time.Time, labels []string) uuid.UUID {
		id := uuid.Must(uuid.NewV7())
		if _, err := pool.Exec(ctx, `insert into emails (id, user_id, sent_at, labels) values ($1, $2, $3, $4)`, id, user, at, labels); err != nil {
			t.Fatal(err)
		}
		return id
	}
	p := func(email, role string) contact.Participant { return contact.Participant{Email: email, Role: role} }
	// Sent by the user to Ada, copying Bob; received from Ada; received
	// from Bob, copying Ada. The user's own address is in their sent
	// mail as its sender: for it, that email counts as received.
	sent := contact.Interaction{EmailID: mail(day, []string{"SENT"}), At: day,
		Participants: []contact.Participant{p("me@example.com", "from"), p("ada@example.com", "to"), p("bob@example.com", "cc")}}
	fromAda := contact.Interaction{EmailID: mail(day.Add(24*time.Hour), []string{"INBOX"}), At: day.Add(24 * time.Hour),
		Participants: []contact.Participant{p("ada@example.com", "from"), p("me@example.com", "to")}}
	fromBob := contact.Interaction{EmailID: mail(day.Add(48*time.Hour), []string{"INBOX", "IMPORTANT"}), At: day.Add(48 * time.Hour),
		Participants: []contact.Participant{p("bob@example.com", "from"), p("ada@example.com", "cc")}}
	for range 2 {
		if _, err := svc.RecordInteraction(ctx, user, sent); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.RecordInteractions(ctx, user, []contact.Interaction{fromAda, fromBob, fromAda}); err != nil {
			t.Fatal(err)
		}
	}
	at := func(t time.Time) *time.Time { return &t }
	want := map[string]figures{
		"ada@example.com": {Count: 3, Sent: 1, Received: 2, First: at(day), Last: at(day.Add(48 * time.Hour))},
		"bob@example.com": {Count: 2, Sent: 1, Received: 1, First: at(day), Last: at(day.Add(48 * time.Hour))},
		"me@example.com":  {Count: 2, Received: 2, First: at(day), Last: at(day.Add(24 * time.Hour))},
	}
	check := func(stage string) {
		t.Helper()
		got := map[string]figures{}
		for e, c := range byEmail(t, svc, user) {
			got[e] = figuresOf(c)
			g, err := svc.Get(ctx, user, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(got[e], figuresOf(g)); d != "" {
				t.Errorf("%s: %s read alone differs from the list (-list +get):\n%s", stage, e, d)
			}
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s: figures (-want +got):\n%s", stage, d)
		}
	}
	recount := func(stage string, changes int) {
		t.Helper()
		var ids []uuid.UUID
		for _, c := range byEmail(t, svc, user) {
			ids = append(ids, c.ID)
		}
		var n int
		if err := db.InTx(ctx, pool, func(tx db.Tx) error {
			var err error
			n, err = svc.Recount(ctx, tx, user, ids)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if n != changes {
			t.Errorf("%s: recount changed %d contacts, want %d", stage, n, changes)
		}
	}
	check("recorded twice")
	recount("recorded twice", 0)
	check("recounted")

	// Meetings with Ada: one 10 days ago, one 200 days ago.
	ada := byEmail(t, svc, user)["ada@example.com"].ID
	account := uuid.Must(uuid.NewV7())
	if _, err := pool.Exec(ctx, `insert into accounts (id, user_id, provider, provider_account_id) values ($1, $2, 'google', 'sub')`, account, user); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var events []uuid.UUID
	for i, ago := range []int{10, 200} {
		ev, start := uuid.Must(uuid.NewV7()), now.AddDate(0, 0, -ago)
		events = append(events, ev)
		if _, err := pool.Exec(ctx, `insert into calendar_events (id, user_id, account_id, google_id, starts_at, ends_at, status)
			values ($1, $2, $3, $4, $5, $5::timestamptz + interval '1 hour', 'confirmed')`, ev, user, account, "e"+string(rune('0'+i)), start); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `insert into event_contacts (event_id, contact_id, user_id, starts_at, response, role)
			values ($1, $2, $3, $4, 'accepted', 'required')`, ev, ada, user, start); err != nil {
			t.Fatal(err)
		}
	}
	recount("met", 1)
	want["ada@example.com"] = figures{Count: 5, Sent: 1, Received: 2, Meetings: 2, Recent: 1, First: at(day), Last: at(now.AddDate(0, 0, -10))}
	check("met")

	// The email from Ada goes, then the recent meeting.
	if _, err := pool.Exec(ctx, `delete from emails where id = $1`, fromAda.EmailID); err != nil {
		t.Fatal(err)
	}
	recount("email deleted", 2)
	want["ada@example.com"] = figures{Count: 4, Sent: 1, Received: 1, Meetings: 2, Recent: 1, First: at(day), Last: at(now.AddDate(0, 0, -10))}
	want["me@example.com"] = figures{Count: 1, Received: 1, First: at(day), Last: at(day)}
	check("email deleted")
	if _, err := pool.Exec(ctx, `delete from calendar_events where id = $1`, events[0]); err != nil {
		t.Fatal(err)
	}
	recount("meeting deleted", 1)
	want["ada@example.com"] = figures{Count: 3, Sent: 1, Received: 1, Meetings: 1, First: at(day), Last: at(now.AddDate(0, 0, -200))}
	check("meeting deleted")

	// Bob goes: the others keep their figures.
	if err := svc.Delete(ctx, user, byEmail(t, svc, user)["bob@example.com"].ID); err != nil {
		t.Fatal(err)
	}
	delete(want, "bob@example.com")
	recount("contact deleted", 0)
	check("contact deleted")
}
