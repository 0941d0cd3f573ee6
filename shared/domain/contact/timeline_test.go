package contact_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/testkit"
)

// timelineFixture links a contact to emails and meetings at known times.
type timelineFixture struct {
	pool    *db.Pool
	user    uuid.UUID
	contact uuid.UUID
	account uuid.UUID
}

func (f timelineFixture) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := f.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

// email links an email at at, with the contact in role and the given
// labels, and returns its id.
func (f timelineFixture) email(t *testing.T, at time.Time, subject, role string, labels ...string) uuid.UUID {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	if labels == nil {
		labels = []string{}
	}
	f.exec(t, `insert into emails (id, user_id, subject, sent_at, labels) values ($1, $2, $3, $4, $5)`, id, f.user, subject, at, labels)
	f.exec(t, `insert into email_contacts (email_id, contact_id, user_id, role) values ($1, $2, $3, $4)`, id, f.contact, f.user, role)
	return id
}

// meeting links a meeting starting at at and returns its id.
func (f timelineFixture) meeting(t *testing.T, at time.Time, title string) uuid.UUID {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	f.exec(t, `insert into calendar_events (id, user_id, account_id, google_id, title, starts_at, ends_at, status)
		values ($1, $2, $3, $4, $5, $6, $7, 'confirmed')`, id, f.user, f.account, id.String(), title, at, at.Add(time.Hour))
	f.exec(t, `insert into event_contacts (event_id, contact_id, user_id, starts_at, response, role)
		values ($1, $2, $3, $4, 'accepted', 'required')`, id, f.contact, f.user, at)
	return id
}

func newTimelineFixture(t *testing.T, pool *db.Pool, address string) timelineFixture {
	t.Helper()
	user, _ := testkit.User(t, pool, address)
	c, err := contact.NewService(pool).Create(context.Background(), user, contact.Fields{Email: ptr("grace@example.com"), Name: ptr("Grace Hopper")})
	if err != nil {
		t.Fatal(err)
	}
	f := timelineFixture{pool: pool, user: user, contact: c.ID, account: uuid.Must(uuid.NewV7())}
	f.exec(t, `insert into accounts (id, user_id, provider, provider_account_id) values ($1, $2, 'google', $3)`, f.account, user, address)
	return f
}

// TestTimeline: a contact's emails and meetings come merged newest first,
// with each email's direction, page by page through the cursor, and
// another user's contact is not found.
func TestTimeline(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	f := newTimelineFixture(t, pool, "me@example.com")
	day := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	received := f.email(t, day, "Compilers", "from", "INBOX")
	standup := f.meeting(t, day.Add(24*time.Hour), "Standup")
	sent := f.email(t, day.Add(48*time.Hour), "Re: Compilers", "to", "SENT")
	copied := f.email(t, day.Add(72*time.Hour), "Cc'd", "cc", "INBOX")
	review := f.meeting(t, day.Add(96*time.Hour), "Review")
	// Another contact's email is not on this timeline.
	other, err := contact.NewService(pool).Create(ctx, f.user, contact.Fields{Email: ptr("alan@example.org")})
	if err != nil {
		t.Fatal(err)
	}
	f.exec(t, `insert into email_contacts (email_id, contact_id, user_id, role) values ($1, $2, $3, 'to')`, sent, other.ID, f.user)

	svc := contact.NewService(pool)
	want := []contact.Item{
		{Kind: contact.KindMeeting, ID: review, At: day.Add(96 * time.Hour), Title: ptr("Review")},
		{Kind: contact.KindEmail, ID: copied, At: day.Add(72 * time.Hour), Title: ptr("Cc'd"), Direction: contact.Received},
		{Kind: contact.KindEmail, ID: sent, At: day.Add(48 * time.Hour), Title: ptr("Re: Compilers"), Direction: contact.Sent},
		{Kind: contact.KindMeeting, ID: standup, At: day.Add(24 * time.Hour), Title: ptr("Standup")},
		{Kind: contact.KindEmail, ID: received, At: day, Title: ptr("Compilers"), Direction: contact.Received},
	}
	all, err := svc.Timeline(ctx, f.user, f.contact, contact.TimelineQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, all.Items, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); d != "" {
		t.Fatalf("timeline (-want +got):\n%s", d)
	}
	if all.Next != nil {
		t.Errorf("one page has a next cursor: %+v", all.Next)
	}

	// Two at a time: the pages cross from one source to the other.
	var paged []uuid.UUID
	q := contact.TimelineQuery{Limit: 2}
	for pages := 0; ; pages++ {
		if pages > len(want) {
			t.Fatal("the pages do not end")
		}
		page, err := svc.Timeline(ctx, f.user, f.contact, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			paged = append(paged, it.ID)
		}
		if page.Next == nil {
			break
		}
		q.After = page.Next
	}
	if d := cmp.Diff([]uuid.UUID{review, copied, sent, standup, received}, paged); d != "" {
		t.Errorf("paged ids (-want +got):\n%s", d)
	}

	// Another user: not found, whether or not the contact has history.
	stranger := newTimelineFixture(t, pool, "stranger@example.com")
	if _, err := svc.Timeline(ctx, stranger.user, f.contact, contact.TimelineQuery{}); !errs.Is(err, errs.KindNotFound) {
		t.Errorf("another user's contact: %v, want NotFound", err)
	}
	empty, err := svc.Timeline(ctx, stranger.user, stranger.contact, contact.TimelineQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(empty.Items) != 0 {
		t.Errorf("a contact without history has %d items", len(empty.Items))
	}
	if _, err := svc.Timeline(ctx, f.user, f.contact, contact.TimelineQuery{Limit: contact.MaxLimit + 1}); !errs.Is(err, errs.KindInvalid) {
		t.Errorf("limit over the maximum: %v, want Invalid", err)
	}
}

// TestTimelineFollowsEmailTime: a link takes its email's time however it
// is inserted (raw SQL, RecordInteraction, RecordInteractions), an email
// whose time changes moves on the timeline of every contact it is linked
// to, and a link to no email is refused as before.
func TestTimelineFollowsEmailTime(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	f := newTimelineFixture(t, pool, "me@example.com")
	svc := contact.NewService(pool)
	day := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	first := f.email(t, day, "First", "from", "INBOX")
	second := f.email(t, day.Add(24*time.Hour), "Second", "from", "INBOX")
	// No sent time: the email's time is when it was received.
	third := uuid.Must(uuid.NewV7())
	f.exec(t, `insert into emails (id, user_id, subject, received_at) values ($1, $2, 'Third', $3)`, third, f.user, day.Add(48*time.Hour))
	f.exec(t, `insert into email_contacts (email_id, contact_id, user_id, role) values ($1, $2, $3, 'to')`, third, f.contact, f.user)
	// Linked by the code that records mail, one and many at a time.
	fourth, fifth := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	for i, id := range []uuid.UUID{fourth, fifth} {
		f.exec(t, `insert into emails (id, user_id, subject, sent_at) values ($1, $2, $3, $4)`,
			id, f.user, []string{"Fourth", "Fifth"}[i], day.Add(time.Duration(72+24*i)*time.Hour))
	}
	grace := []contact.Participant{{Email: "grace@example.com", Role: "from"}}
	if _, err := svc.RecordInteraction(ctx, f.user, contact.Interaction{EmailID: fourth, At: day.Add(72 * time.Hour), Participants: grace}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RecordInteractions(ctx, f.user, []contact.Interaction{{EmailID: fifth, At: day.Add(96 * time.Hour), Participants: grace}}); err != nil {
		t.Fatal(err)
	}
	// The first email is with another contact too.
	other, err := svc.Create(ctx, f.user, contact.Fields{Email: ptr("alan@example.org")})
	if err != nil {
		t.Fatal(err)
	}
	f.exec(t, `insert into email_contacts (email_id, contact_id, user_id, role) values ($1, $2, $3, 'to')`, first, other.ID, f.user)

	// Every link holds its email's time.
	stale := func() int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `select count(*) from email_contacts ec join emails e on e.id = ec.email_id
			where ec.user_id = $1 and ec.sort_at is distinct from e.sort_at`, f.user).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := stale(); n != 0 {
		t.Fatalf("%d links without their email's time", n)
	}
	order := func(id uuid.UUID) []uuid.UUID {
		t.Helper()
		tl, err := svc.Timeline(ctx, f.user, id, contact.TimelineQuery{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []uuid.UUID
		for _, it := range tl.Items {
			ids = append(ids, it.ID)
		}
		return ids
	}
	if d := cmp.Diff([]uuid.UUID{fifth, fourth, third, second, first}, order(f.contact)); d != "" {
		t.Fatalf("timeline (-want +got):\n%s", d)
	}

	// The first email turns out to have been sent last; the third loses
	// its received time and falls back to when it was stored (now).
	f.exec(t, `update emails set sent_at = $2 where id = $1`, first, day.Add(30*24*time.Hour))
	f.exec(t, `update emails set received_at = null where id = $1`, third)
	// A change that leaves the time alone moves nothing.
	f.exec(t, `update emails set labels = '{STARRED}', sent_at = sent_at where id = $1`, second)
	if n := stale(); n != 0 {
		t.Fatalf("%d links without their email's time after it changed", n)
	}
	if d := cmp.Diff([]uuid.UUID{third, first, fifth, fourth, second}, order(f.contact)); d != "" {
		t.Errorf("timeline after the times changed (-want +got):\n%s", d)
	}
	tl, err := svc.Timeline(ctx, f.user, other.ID, contact.TimelineQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.Items) != 1 || tl.Items[0].ID != first || !tl.Items[0].At.Equal(day.Add(30*24*time.Hour)) {
		t.Errorf("the other contact's timeline: %+v, want the first email at its new time", tl.Items)
	}

	// A link to no email is the foreign key's violation, and adds nothing.
	_, err = pool.Exec(ctx, `insert into email_contacts (email_id, contact_id, user_id, role) values ($1, $2, $3, 'to')`,
		uuid.Must(uuid.NewV7()), f.contact, f.user)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23503" || pe.ConstraintName != "email_contacts_email_id_fkey" {
		t.Errorf("a link to no email: %v, want a foreign key violation", err)
	}
	if !errs.Is(db.Err(err, "email"), errs.KindNotFound) {
		t.Errorf("a link to no email: %v, want NotFound", db.Err(err, "email"))
	}
	if got := order(f.contact); len(got) != 5 {
		t.Errorf("timeline after a refused link: %d items, want 5", len(got))
	}
}
