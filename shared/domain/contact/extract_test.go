package contact_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/testkit"
)

func newEmail(t *testing.T, pool *db.Pool, user uuid.UUID) uuid.UUID {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	if _, err := pool.Exec(context.Background(), `insert into emails (id, user_id) values ($1, $2)`, id, user); err != nil {
		t.Fatal(err)
	}
	return id
}

func byEmail(t *testing.T, svc *contact.Service, user uuid.UUID) map[string]contact.Contact {
	t.Helper()
	page, err := svc.List(context.Background(), user, contact.Query{Limit: contact.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]contact.Contact{}
	for _, c := range page.Items {
		if c.Email != nil {
			out[*c.Email] = c
		}
	}
	return out
}

func nameSource(t *testing.T, pool *db.Pool, id uuid.UUID) *string {
	t.Helper()
	var s *string
	if err := pool.QueryRow(context.Background(), `select name_source from contacts where id = $1`, id).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func links(t *testing.T, pool *db.Pool, emailID uuid.UUID) map[string]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `select c.email, ec.role from email_contacts ec join contacts c on c.id = ec.contact_id where ec.email_id = $1`, emailID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var e, r string
		if err := rows.Scan(&e, &r); err != nil {
			t.Fatal(err)
		}
		out[e] = r
	}
	return out
}

func TestRecordInteraction(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	svc := contact.NewService(pool)
	ctx := context.Background()
	user, _ := testkit.User(t, pool, "owner@example.com")

	// Contacts the user already has: one named by the user, one without a
	// name, one whose name the user cleared.
	named, err := svc.Create(ctx, user, contact.Fields{Email: ptr("grace@example.com"), Name: ptr("Admiral Hopper")})
	if err != nil {
		t.Fatal(err)
	}
	unnamed, err := svc.Create(ctx, user, contact.Fields{Email: ptr("alan@example.org")})
	if err != nil {
		t.Fatal(err)
	}
	cleared, err := svc.Create(ctx, user, contact.Fields{Email: ptr("linus@example.net"), Name: ptr("Linus")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Update(ctx, user, cleared.ID, contact.Fields{Name: ptr("")}); err != nil {
		t.Fatal(err)
	}

	first := newEmail(t, pool, user)
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	in := contact.Interaction{EmailID: first, At: at, Participants: []contact.Participant{
		{Email: "grace@example.com", Name: "Grace Hopper", Role: "from"},
		{Email: "Grace@Example.com", Name: "G", Role: "cc"},
		{Email: "alan@example.org", Name: "Alan Turing", Role: "to"},
		{Email: "linus@example.net", Name: "Linus T", Role: "cc"},
		{Email: "ada@example.org", Name: "Ada Lovelace", Role: "cc"},
		{Email: "ada@example.org", Role: "reply_to"},
		{Email: "nobody", Role: "to"},
		{Email: "x@example.com", Role: "sender"},
	}}
	rec, err := svc.RecordInteraction(ctx, user, in)
	if err != nil {
		t.Fatalf("first record: %v", err)
	}
	if rec.Linked != 4 {
		t.Fatalf("first record linked %d, want 4: %+v", rec.Linked, rec)
	}
	// The same email again, as a redelivered job would: nothing changes.
	for range 2 {
		rec, err := svc.RecordInteraction(ctx, user, in)
		if err != nil {
			t.Fatalf("record again: %v", err)
		}
		if rec.Linked != 0 {
			t.Fatalf("record again linked %d, want nothing: %+v", rec.Linked, rec)
		}
	}

	got := byEmail(t, svc, user)
	check := func(email, name string, count int, source string) {
		t.Helper()
		c, ok := got[email]
		if !ok {
			t.Fatalf("no contact %s", email)
		}
		if n := deref(c.Name); n != name || c.InteractionCount != count || c.LastInteractionAt == nil || !c.LastInteractionAt.Equal(at) {
			t.Errorf("%s: name %q count %d last %v; want %q, %d, %v", email, n, c.InteractionCount, c.LastInteractionAt, name, count, at)
		}
		if s := deref(nameSource(t, pool, c.ID)); s != source {
			t.Errorf("%s: name source %q, want %q", email, s, source)
		}
	}
	check("grace@example.com", "Admiral Hopper", 1, contact.NameFromUser) // the user's name stays
	check("alan@example.org", "Alan Turing", 1, contact.NameFromEmail)    // filled in
	check("linus@example.net", "", 1, contact.NameFromUser)               // cleared by the user: stays empty
	check("ada@example.org", "Ada Lovelace", 1, contact.NameFromEmail)    // new
	if len(got) != 4 {
		t.Errorf("%d contacts, want 4: %v", len(got), got)
	}
	if unnamed.ID != got["alan@example.org"].ID || named.ID != got["grace@example.com"].ID {
		t.Error("an existing contact was replaced")
	}
	wantLinks := map[string]string{"grace@example.com": "from", "alan@example.org": "to", "linus@example.net": "cc", "ada@example.org": "reply_to"}
	if l := links(t, pool, first); len(l) != 4 || l["grace@example.com"] != "from" || l["ada@example.org"] != "reply_to" {
		t.Errorf("links %v, want %v", l, wantLinks)
	}

	// A second, earlier email counts too, and leaves the last interaction.
	second := newEmail(t, pool, user)
	if _, err := svc.RecordInteraction(ctx, user, contact.Interaction{EmailID: second, At: at.Add(-time.Hour),
		Participants: []contact.Participant{{Email: "ada@example.org", Name: "Countess", Role: "from"}}}); err != nil {
		t.Fatal(err)
	}
	ada := byEmail(t, svc, user)["ada@example.org"]
	if ada.InteractionCount != 2 || !ada.LastInteractionAt.Equal(at) || deref(ada.Name) != "Ada Lovelace" {
		t.Errorf("ada after an earlier email: %+v", ada)
	}

	// The user renames a contact that came from mail: it is theirs now.
	if _, err := svc.Update(ctx, user, ada.ID, contact.Fields{Name: ptr("Ada")}); err != nil {
		t.Fatal(err)
	}
	if s := deref(nameSource(t, pool, ada.ID)); s != contact.NameFromUser {
		t.Errorf("renamed contact's name source %q", s)
	}
}

func TestRecordInteractionChecksTheEmail(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	svc := contact.NewService(pool)
	ctx := context.Background()
	alice, _ := testkit.User(t, pool, "alice@example.com")
	bob, _ := testkit.User(t, pool, "bob@example.com")
	alicesEmail := newEmail(t, pool, alice)
	in := contact.Interaction{EmailID: alicesEmail, At: time.Now(), Participants: []contact.Participant{{Email: "x@example.com", Role: "from"}}}
	if _, err := svc.RecordInteraction(ctx, bob, in); !errs.Is(err, errs.KindNotFound) {
		t.Fatalf("recording another user's email: %v, want NotFound", err)
	}
	in.EmailID = uuid.New()
	if _, err := svc.RecordInteraction(ctx, alice, in); !errs.Is(err, errs.KindNotFound) {
		t.Fatalf("recording a missing email: %v, want NotFound", err)
	}
	if len(byEmail(t, svc, bob)) != 0 || len(byEmail(t, svc, alice)) != 0 {
		t.Fatal("contacts were created")
	}
}

// TestRecordInteractionConcurrently: the same emails recorded by several
// workers at once still count each email once.
func TestRecordInteractionConcurrently(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	svc := contact.NewService(pool)
	ctx := context.Background()
	user, _ := testkit.User(t, pool, "busy@example.com")
	people := []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com"}
	var emails []contact.Interaction
	for i := range 20 {
		var ps []contact.Participant
		for j, p := range people {
			if (i+j)%3 != 0 {
				ps = append(ps, contact.Participant{Email: p, Role: "to"})
			}
		}
		emails = append(emails, contact.Interaction{EmailID: newEmail(t, pool, user), At: time.Now(), Participants: ps})
	}
	var wg sync.WaitGroup
	for range 3 {
		for _, in := range emails {
			wg.Go(func() {
				if _, err := svc.RecordInteraction(ctx, user, in); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	got := byEmail(t, svc, user)
	for _, p := range people {
		want := 0
		for _, in := range emails {
			for _, q := range in.Participants {
				if q.Email == p {
					want++
				}
			}
		}
		if got[p].InteractionCount != want {
			t.Errorf("%s: %d interactions, want %d", p, got[p].InteractionCount, want)
		}
	}
}

func ptr(s string) *string { return &s }

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// TestRecordInteractionInvalidatesTheCache: reads cached before an email
// is recorded show it after.
func TestRecordInteractionInvalidatesTheCache(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	svc := contact.NewService(pool, contact.WithCache(cache.New(cache.NewMemory(1000), cache.Options{})))
	user, _ := testkit.User(t, pool, "cached@example.com")
	c, err := svc.Create(ctx, user, contact.Fields{Email: ptr("grace@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	before, err := svc.Get(ctx, user, c.ID)
	if err != nil {
		t.Fatalf("before: %v", err)
	}
	if before.InteractionCount != 0 {
		t.Fatalf("before: %d interactions, want 0", before.InteractionCount)
	}
	in := contact.Interaction{EmailID: newEmail(t, pool, user), At: time.Now(),
		Participants: []contact.Participant{{Email: "grace@example.com", Name: "Grace", Role: "from"}}}
	if _, err := svc.RecordInteraction(ctx, user, in); err != nil {
		t.Fatal(err)
	}
	got, err := svc.Get(ctx, user, c.ID)
	if err != nil {
		t.Fatalf("after: %v", err)
	}
	if got.InteractionCount != 1 {
		t.Fatalf("after: %d interactions, want 1: the cached read was not replaced", got.InteractionCount)
	}
	if name := deref(got.Name); name != "Grace" {
		t.Fatalf("after: name %q, want Grace: the cached read was not replaced", name)
	}
}
