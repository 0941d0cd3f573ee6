package meeting_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/domain/meeting"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/testkit"
)

func TestGuests(t *testing.T) {
	t.Parallel()
	own := []string{"me@mine.example", "Me@Work.example"}
	me := meeting.Attendee{Email: "me@mine.example", Response: meeting.Accepted, Self: true}
	grace := meeting.Attendee{Email: "Grace@Example.com", Name: " Grace Hopper ", Response: meeting.Accepted}
	many := []meeting.Attendee{me}
	for i := range meeting.MaxAttendees + 10 {
		many = append(many, meeting.Attendee{Email: fmt.Sprintf("p%03d@example.com", i), Response: meeting.NeedsAction})
	}
	for _, tt := range []struct {
		name string
		e    meeting.Event
		want []string
	}{
		{"a meeting", meeting.Event{Status: "confirmed", Organizer: "grace@example.com", Attendees: []meeting.Attendee{me, grace,
			{Email: "alan@example.org", Response: "needsAction", Optional: true}}}, []string{"alan@example.org/optional/needsAction", "grace@example.com/organizer/accepted"}},
		{"cancelled", meeting.Event{Status: "cancelled", Attendees: []meeting.Attendee{me, grace}}, nil},
		{"the user declined", meeting.Event{Status: "confirmed", Attendees: []meeting.Attendee{{Email: "me+cal@mine.example", Response: meeting.Declined}, grace}}, nil},
		{"the user declined, as self", meeting.Event{Status: "confirmed", Attendees: []meeting.Attendee{{Email: "alias@mine.example", Self: true, Response: meeting.Declined}, grace}}, nil},
		{"a guest declined", meeting.Event{Status: "confirmed", Attendees: []meeting.Attendee{me, grace, {Email: "kj@example.org", Response: meeting.Declined}}},
			[]string{"grace@example.com/required/accepted"}},
		{"rooms, the user's addresses, automated ones", meeting.Event{Status: "tentative", Attendees: []meeting.Attendee{me, grace,
			{Email: "room@example.com", Resource: true}, {Email: "c_1@resource.calendar.google.com"}, {Email: "me@work.example"},
			{Email: "me+tag@mine.example"}, {Email: "no-reply@example.com"}, {Email: ""}}}, []string{"grace@example.com/required/accepted"}},
		{"all day without guests", meeting.Event{Status: "confirmed", AllDay: true}, nil},
		{"at most MaxAttendees", meeting.Event{Status: "confirmed", Attendees: many}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := meeting.Guests(tt.e, own, email.WithIgnore())
			if tt.name == "at most MaxAttendees" {
				if len(got) != meeting.MaxAttendees || got[0].Email != "p000@example.com" {
					t.Fatalf("%d guests, first %+v", len(got), got[0])
				}
				return
			}
			var short []string
			for _, g := range got {
				short = append(short, g.Email+"/"+g.Role+"/"+g.Response)
			}
			if d := cmp.Diff(tt.want, short); d != "" {
				t.Fatalf("guests (-want +got):\n%s", d)
			}
			if tt.name == "a meeting" && got[1].Name != "Grace Hopper" {
				t.Errorf("name %q", got[1].Name)
			}
		})
	}
}

// TestRequestDue: the schedule enqueues a calendar sync of each account
// that granted the calendar and was not synced lately, once.
func TestRequestDue(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	user, _ := testkit.User(t, pool, "due@example.com")
	account := func(scope string, refresh, reconsent bool) uuid.UUID {
		t.Helper()
		id := uuid.Must(uuid.NewV7())
		var token []byte
		if refresh {
			token = []byte("sealed")
		}
		if _, err := pool.Exec(ctx, `insert into accounts (id, user_id, provider, provider_account_id, refresh_token, scope, needs_reconsent)
			values ($1, $2, 'google', $3, $4, $5, $6)`, id, user, id.String(), token, scope, reconsent); err != nil {
			t.Fatal(err)
		}
		return id
	}
	cal := "openid email " + google.ScopeCalendarReadonly
	due := []uuid.UUID{account(cal, true, false), account("openid https://www.googleapis.com/auth/calendar", true, false)}
	fresh := account(cal, true, false)
	if _, err := pool.Exec(ctx, `insert into calendar_sync_state (account_id, user_id, status, last_synced_at) values ($1, $2, 'synced', now())`, fresh, user); err != nil {
		t.Fatal(err)
	}
	account("openid email "+google.ScopeGmailReadonly, true, false) // no calendar
	account(cal, false, false)                                      // no refresh token
	account(cal, true, true)                                        // needs consent

	svc := meeting.NewService(pool, nil, nil, queue.New(pool, nil, nil))
	n, err := svc.RequestDue(ctx, time.Now().Add(-time.Minute), time.Time{})
	if err != nil || n != len(due) {
		t.Fatalf("enqueued %d, want %d: %v", n, len(due), err)
	}
	if n, err := svc.RequestDue(ctx, time.Now().Add(-time.Minute), time.Time{}); err != nil || n != 0 {
		t.Fatalf("again: enqueued %d: %v", n, err)
	}
	var got []uuid.UUID
	rows, err := pool.Query(ctx, `select (payload->>'accountId')::uuid from jobs where kind = 'calendar-sync' order by 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id uuid.UUID
		rows.Scan(&id)
		got = append(got, id)
	}
	if d := cmp.Diff(due, got); d != "" {
		t.Fatalf("synced accounts (-want +got):\n%s", d)
	}
}

func TestSyncJob(t *testing.T) {
	t.Parallel()
	if err := (meeting.SyncJob{}).Validate(); err == nil {
		t.Fatal("an empty job is valid")
	}
	p, err := queue.Decode[meeting.SyncJob]([]byte(`{"userId":"01a2524f-56ec-76d1-92db-feb152686826","accountId":"01a2524f-56ec-76d1-92db-feb152686827"}`))
	if err != nil || p.Owner().String() != "01a2524f-56ec-76d1-92db-feb152686826" {
		t.Fatalf("%+v %v", p, err)
	}
}

// TestApplyRecurringCancelled: a recurring event listed as cancelled by
// its own id takes its occurrences, and what they added, with it.
func TestApplyRecurringCancelled(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	user, _ := testkit.User(t, pool, "me@mine.example")
	account := uuid.Must(uuid.NewV7())
	if _, err := pool.Exec(ctx, `insert into accounts (id, user_id, provider, provider_account_id) values ($1, $2, 'google', 'sub')`, account, user); err != nil {
		t.Fatal(err)
	}
	contacts := contact.NewService(pool)
	svc := meeting.NewService(pool, contacts, email.WithIgnore(), queue.New(pool, nil, nil))
	now := time.Now()
	var events []meeting.Event
	for i := range 3 {
		start := now.Add(-time.Duration(i+1) * 7 * 24 * time.Hour)
		events = append(events, meeting.Event{GoogleID: fmt.Sprintf("m1_%d", i), RecurringID: "m1", Status: "confirmed", Start: start, End: start.Add(time.Hour),
			Attendees: []meeting.Attendee{{Email: "me@mine.example", Self: true, Response: meeting.Accepted}, {Email: "grace@example.com", Response: meeting.Accepted}}})
	}
	apply := func(events ...meeting.Event) meeting.Applied {
		t.Helper()
		var out meeting.Applied
		err := db.InTx(ctx, pool, func(tx db.Tx) error {
			var err error
			out, err = svc.Apply(ctx, tx, meeting.Page{UserID: user, AccountID: account, Events: events, Own: []string{"me@mine.example"}, Now: now})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	count := func() int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `select interaction_count from contacts where user_id = $1 and email = 'grace@example.com'`, user).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := apply(events...); got.Stored != 3 || got.Linked != 3 || count() != 3 {
		t.Fatalf("applied %+v, %d interactions", got, count())
	}
	if got := apply(events...); got.Stored != 0 || got.Linked != 0 || got.Recounted != 0 {
		t.Fatalf("applied again: %+v", got)
	}
	if got := apply(meeting.Event{GoogleID: "m1", Status: "cancelled"}); got.Removed != 3 || count() != 0 {
		t.Fatalf("cancelled: %+v, %d interactions", got, count())
	}
	// Listed twice in a page, an event is as its last listing says.
	if got := apply(meeting.Event{GoogleID: "m1_0", Status: "cancelled"}, events[0]); got.Stored != 1 || count() != 1 {
		t.Fatalf("cancelled, then confirmed: %+v, %d interactions", got, count())
	}
	if got := apply(events[0], meeting.Event{GoogleID: "m1_0", Status: "cancelled"}); got.Removed != 1 || count() != 0 {
		t.Fatalf("confirmed, then cancelled: %+v, %d interactions", got, count())
	}
}

func TestContinueKey(t *testing.T) {
	t.Parallel()
	account := uuid.Must(uuid.NewV7())
	long := strings.Repeat("CiAKGjBzM2", 60)
	a, b := meeting.ContinueKey(account, "full:1:"+long), meeting.ContinueKey(account, "full:1:"+long+"x")
	if a == b || len(a) > queue.MaxSingletonKey || !strings.HasPrefix(a, meeting.SyncKey(account)+":from:") {
		t.Fatalf("keys %q %q", a, b)
	}
}
