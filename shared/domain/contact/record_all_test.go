package contact_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/testkit"
)

// interactionsOf counts, per address, the emails of ins that name it, and
// the latest of their times.
func interactionsOf(ins []contact.Interaction) (map[string]int, map[string]time.Time) {
	count, last := map[string]int{}, map[string]time.Time{}
	for _, in := range ins {
		seen := map[string]bool{}
		for _, p := range in.Participants {
			if seen[p.Email] {
				continue
			}
			seen[p.Email] = true
			count[p.Email]++
			if in.At.After(last[p.Email]) {
				last[p.Email] = in.At
			}
		}
	}
	return count, last
}

func wantInteractions(t *testing.T, svc *contact.Service, user uuid.UUID, ins []contact.Interaction) {
	t.Helper()
	count, last := interactionsOf(ins)
	got := byEmail(t, svc, user)
	if len(got) != len(count) {
		t.Errorf("%d contacts, want %d", len(got), len(count))
	}
	for addr, n := range count {
		c := got[addr]
		if c.InteractionCount != n || c.LastInteractionAt == nil || !c.LastInteractionAt.Equal(last[addr]) {
			t.Errorf("%s: %d interactions, last %v; want %d, %v", addr, c.InteractionCount, c.LastInteractionAt, n, last[addr])
		}
	}
}

func linkCount(t *testing.T, pool *db.Pool, user uuid.UUID) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `select count(*) from email_contacts where user_id = $1`, user).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRecordInteractionsMixesNewAndKnownEmails(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	svc := contact.NewService(pool)
	ctx := context.Background()
	user, _ := testkit.User(t, pool, "me@example.com")
	other, _ := testkit.User(t, pool, "other@example.com")
	at := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)

	theirs := contact.Interaction{EmailID: newEmail(t, pool, other), At: at,
		Participants: []contact.Participant{{Email: "ada@example.com", Name: "Ada (theirs)", Role: "from"}}}
	if _, err := svc.RecordInteraction(ctx, other, theirs); err != nil {
		t.Fatal(err)
	}
	// A contact the user named, and an email recorded one at a time.
	named, err := svc.Create(ctx, user, contact.Fields{Email: ptr("grace@example.com"), Name: ptr("Amazing Grace")})
	if err != nil {
		t.Fatal(err)
	}
	known := contact.Interaction{EmailID: newEmail(t, pool, user), At: at.Add(-time.Hour), Participants: []contact.Participant{
		{Email: "ada@example.com", Role: "from"}, {Email: "grace@example.com", Name: "Grace H", Role: "to"}}}
	if _, err := svc.RecordInteraction(ctx, user, known); err != nil {
		t.Fatal(err)
	}

	page := []contact.Interaction{
		known, // again: counts nothing
		{EmailID: newEmail(t, pool, user), At: at, Participants: []contact.Participant{
			{Email: "Ada@Example.com", Name: "Ada Lovelace", Role: "to"}, {Email: "bob@example.com", Role: "cc"},
			{Email: "bob@example.com", Name: "Bob", Role: "from"}}},
		{EmailID: newEmail(t, pool, user), At: at.Add(2 * time.Hour), Participants: []contact.Participant{
			{Email: "bob@example.com", Name: "Robert", Role: "to"}, {Email: "grace@example.com", Name: "Grace", Role: "cc"},
			{Email: "not an address", Role: "to"}}},
		{EmailID: theirs.EmailID, At: at, Participants: []contact.Participant{{Email: "eve@example.com", Role: "from"}}}, // not the user's
		{EmailID: uuid.New(), At: at, Participants: []contact.Participant{{Email: "eve@example.com", Role: "from"}}},     // gone
		{EmailID: newEmail(t, pool, user), At: at}, // nobody
	}
	rec, err := svc.RecordInteractions(ctx, user, page)
	if err != nil {
		t.Fatal(err)
	}
	want := []int{0, 2, 2, 0, 0, 0}
	if len(rec) != len(want) {
		t.Fatalf("recorded %+v", rec)
	}
	for i, r := range rec {
		if r.Linked != want[i] {
			t.Errorf("email %d linked %d, want %d", i, r.Linked, want[i])
		}
	}
	// The user's emails, their addresses as contacts keep them.
	var mine []contact.Interaction
	for _, in := range []contact.Interaction{known, page[1], page[2]} {
		var ps []contact.Participant
		for _, p := range in.Participants {
			if p.Email != "not an address" {
				p.Email = strings.ToLower(p.Email)
				ps = append(ps, p)
			}
		}
		in.Participants = ps
		mine = append(mine, in)
	}
	wantInteractions(t, svc, user, mine)
	got := byEmail(t, svc, user)
	if deref(got["bob@example.com"].Name) != "Bob" || deref(got["grace@example.com"].Name) != "Amazing Grace" || got["grace@example.com"].ID != named.ID ||
		deref(got["ada@example.com"].Name) != "Ada Lovelace" {
		t.Errorf("names: bob %q, grace %q, ada %q", deref(got["bob@example.com"].Name), deref(got["grace@example.com"].Name), deref(got["ada@example.com"].Name))
	}
	if l := links(t, pool, page[1].EmailID); l["bob@example.com"] != "from" || l["ada@example.com"] != "to" {
		t.Errorf("links of the second email: %v", l)
	}
	links := linkCount(t, pool, user)

	// The page again changes nothing.
	rec, err = svc.RecordInteractions(ctx, user, page)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rec {
		if r.Linked != 0 {
			t.Errorf("again, email %d linked %d", i, r.Linked)
		}
	}
	wantInteractions(t, svc, user, mine)
	if n := linkCount(t, pool, user); n != links {
		t.Errorf("%d links after the page again, were %d", n, links)
	}
	// The other user's data is untouched.
	wantInteractions(t, svc, other, []contact.Interaction{theirs})
	if deref(byEmail(t, svc, other)["ada@example.com"].Name) != "Ada (theirs)" {
		t.Error("the other user's contact changed")
	}
}

// TestRecordInteractionsConcurrently: overlapping pages recorded at once,
// with single emails recorded beside them, count each email once and do
// not deadlock.
func TestRecordInteractionsConcurrently(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	svc := contact.NewService(pool)
	ctx := context.Background()
	user, _ := testkit.User(t, pool, "busy@example.com")
	var emails []contact.Interaction
	start := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	for i := range 40 {
		var ps []contact.Participant
		for j := range 12 {
			if (i+j)%3 != 0 {
				ps = append(ps, contact.Participant{Email: fmt.Sprintf("p%02d@example.com", (i*7+j)%15), Role: "to"})
			}
		}
		emails = append(emails, contact.Interaction{EmailID: newEmail(t, pool, user), At: start.Add(time.Duration(i) * time.Minute), Participants: ps})
	}
	var wg sync.WaitGroup
	for round := range 3 {
		for i := 0; i < len(emails); i += 10 {
			wg.Go(func() {
				page := append([]contact.Interaction(nil), emails[i:min(i+10+round*5, len(emails))]...)
				if _, err := svc.RecordInteractions(ctx, user, page); err != nil {
					t.Error(err)
				}
			})
		}
		for _, in := range emails[round*5 : round*5+5] {
			wg.Go(func() {
				if _, err := svc.RecordInteraction(ctx, user, in); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	wantInteractions(t, svc, user, emails)
}
