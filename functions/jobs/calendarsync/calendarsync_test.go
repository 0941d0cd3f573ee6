package calendarsync_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/functions/jobs/calendarsync"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/meeting"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/worker"
	"github.com/personalcrm/core/shared/sandbox"
	"github.com/personalcrm/core/shared/testkit"
)

// fixture is a user with a Google account at a sandbox Google whose
// calendar the calendar-sync worker reads, on an in-memory queue.
type fixture struct {
	pool    *db.Pool
	mem     *queue.Memory
	q       *queue.Queue
	kit     testkit.GoogleKit
	sync    *worker.Worker
	user    uuid.UUID
	account uuid.UUID
	addr    string
	// now is the worker's clock: the real time plus shift.
	shift time.Duration
}

func newFixture(t testing.TB, o calendarsync.Options, untick ...string) *fixture {
	t.Helper()
	pool := testkit.DB(t)
	mem := queue.NewMemory(queue.MemoryOptions{})
	kit := testkit.StartGoogleKit(t, pool, sandbox.GoogleOptions{})
	f := &fixture{pool: pool, mem: mem, q: queue.New(pool, mem, nil), kit: kit, addr: "owner@mine.example"}
	f.user, _, f.account = kit.Account(t, pool, f.addr, untick...)
	o.Google, o.Tokens = kit.Client, kit.Tokens
	o.Now = func() time.Time { return time.Now().Add(f.shift) }
	f.sync = calendarsync.Worker(worker.Deps{DB: pool, Backend: mem}, o)
	return f
}

// at is a time relative to now, on the hour.
func at(d time.Duration) time.Time { return time.Now().Add(d).Truncate(time.Hour) }

const day = 24 * time.Hour

// meet adds an hour-long event with guests (the owner accepted).
func (f *fixture) meet(start time.Time, title string, guests ...sandbox.CalendarAttendee) string {
	as := append([]sandbox.CalendarAttendee{{Email: f.addr, ResponseStatus: "accepted", Organizer: true}}, guests...)
	return f.kit.Sandbox.AddEvent(f.addr, sandbox.CalendarEvent{Summary: title, Start: start, End: start.Add(time.Hour), Attendees: as})
}

func guest(name, addr, response string) sandbox.CalendarAttendee {
	return sandbox.CalendarAttendee{Email: addr, DisplayName: name, ResponseStatus: response}
}

func (f *fixture) request(t testing.TB, full bool) queue.Job {
	t.Helper()
	var j queue.Job
	err := f.q.InTx(context.Background(), func(tx *queue.Tx) error {
		var err error
		j, err = tx.Enqueue(context.Background(), meeting.SyncJob{UserID: f.user, AccountID: f.account, Full: full}, queue.Singleton(meeting.SyncKey(f.account)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// drain runs the calendar-sync jobs on the queue, continuations included.
func (f *fixture) drain(t testing.TB) int {
	t.Helper()
	runs := 0
	for {
		n, err := worker.PollOnce(context.Background(), f.mem, f.sync.Function(), f.sync.Handle, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return runs
		}
		if runs += n; runs > 50 {
			t.Fatal("the sync does not end")
		}
	}
}

func (f *fixture) syncOK(t testing.TB, full bool) {
	t.Helper()
	j := f.request(t, full)
	f.drain(t)
	if got := f.job(t, j.ID); got.State != queue.Succeeded {
		t.Fatalf("job %s", describe(got))
	}
}

func (f *fixture) job(t testing.TB, id uuid.UUID) queue.Job {
	t.Helper()
	j, err := queue.Get(context.Background(), f.pool, f.user, id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func describe(j queue.Job) string {
	deref := func(s *string) string {
		if s == nil {
			return "<nil>"
		}
		return *s
	}
	return fmt.Sprintf("%s after %d attempts: %q (%s)", j.State, j.Attempts, deref(j.LastError), deref(j.Error))
}

// person is a contact as the meetings left it.
type person struct {
	name  string
	count int
	last  *time.Time
	meets int
}

// people are the user's contacts by address.
func (f *fixture) people(t testing.TB) map[string]person {
	t.Helper()
	rows, err := f.pool.Query(context.Background(), `select c.email, coalesce(c.name, ''), c.interaction_count, c.last_interaction_at,
			(select count(*) from event_contacts ec where ec.contact_id = c.id)
		from contacts c where c.user_id = $1`, f.user)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]person{}
	for rows.Next() {
		var addr string
		var p person
		if err := rows.Scan(&addr, &p.name, &p.count, &p.last, &p.meets); err != nil {
			t.Fatal(err)
		}
		out[addr] = p
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (f *fixture) events(t testing.TB) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), `select count(*) from calendar_events where user_id = $1`, f.user).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func wantPerson(t testing.TB, got map[string]person, addr string, count int, last time.Time) {
	t.Helper()
	p, ok := got[addr]
	if !ok {
		t.Errorf("%s is no contact", addr)
		return
	}
	if p.count != count || p.meets != count {
		t.Errorf("%s: %d interactions, %d meetings; want %d", addr, p.count, p.meets, count)
	}
	switch {
	case last.IsZero() && p.last != nil:
		t.Errorf("%s: last interaction %v, want none", addr, p.last)
	case !last.IsZero() && (p.last == nil || !p.last.Equal(last)):
		t.Errorf("%s: last interaction %v, want %v", addr, p.last, last)
	}
}

// calendarOf is a calendar with a meeting of each kind.
type calendarOf struct {
	lunch, review, declined, weekly, future, allDay, old string
	lunchAt, reviewAt, weeklyAt, futureAt                time.Time
}

func (f *fixture) seed(t testing.TB) calendarOf {
	t.Helper()
	var c calendarOf
	c.lunchAt, c.reviewAt = at(-20*day), at(-12*day)
	c.lunch = f.meet(c.lunchAt, "Lunch", guest("Grace Hopper", "grace@example.com", "accepted"),
		sandbox.CalendarAttendee{Email: "c_1888abc@resource.calendar.google.com", DisplayName: "Harbour room", Resource: true, ResponseStatus: "accepted"})
	// Katherine declined; the user's other address is the user.
	c.review = f.meet(c.reviewAt, "Trajectory review", guest("Alan Turing", "alan@example.org", "needsAction"),
		guest("Katherine Johnson", "katherine@example.org", "declined"), guest("", "owner+cal@mine.example", "accepted"),
		guest("", "no-reply@billing.example.net", "accepted"))
	// The user declined: no meeting.
	c.declined = f.kit.Sandbox.AddEvent(f.addr, sandbox.CalendarEvent{Summary: "Sales pitch", Start: at(-5 * day), End: at(-5*day + time.Hour),
		Organizer: "sales@vendor.example", Attendees: []sandbox.CalendarAttendee{
			{Email: "sales@vendor.example", Organizer: true, ResponseStatus: "accepted"}, {Email: f.addr, ResponseStatus: "declined"}}})
	// Weekly, three occurrences past and three to come.
	c.weeklyAt = at(-21*day + 2*time.Hour)
	c.weekly = f.kit.Sandbox.AddEvent(f.addr, sandbox.CalendarEvent{Summary: "Weekly sync", Start: c.weeklyAt, End: c.weeklyAt.Add(30 * time.Minute),
		Weekly: 6, Attendees: []sandbox.CalendarAttendee{{Email: f.addr, Organizer: true, ResponseStatus: "accepted"},
			guest("Renée Dupont", "renee@example.fr", "accepted")}})
	c.futureAt = at(3 * day)
	c.future = f.meet(c.futureAt, "Dinner", guest("Grace Hopper", "grace@example.com", "tentative"))
	c.allDay = f.kit.Sandbox.AddEvent(f.addr, sandbox.CalendarEvent{Summary: "Offsite prep", Start: at(-3 * day).Truncate(day), End: at(-3 * day).Truncate(day).Add(day), AllDay: true})
	// Before the window.
	c.old = f.meet(at(-400*day), "Old times", guest("Ada Lovelace", "ada@example.com", "accepted"))
	return c
}

// TestCalendarSyncFull: the first sync makes the past meetings
// interactions with their guests, and nobody else.
func TestCalendarSyncFull(t *testing.T) {
	t.Parallel()
	f := newFixture(t, calendarsync.Options{PageSize: 3})
	c := f.seed(t)
	// A contact the user named keeps their name.
	if _, err := f.pool.Exec(context.Background(), `insert into contacts (id, user_id, email, name, name_source) values ($1, $2, 'grace@example.com', 'Amazing Grace', 'user')`,
		uuid.Must(uuid.NewV7()), f.user); err != nil {
		t.Fatal(err)
	}
	f.syncOK(t, false)

	got := f.people(t)
	wantPerson(t, got, "grace@example.com", 1, c.lunchAt)
	wantPerson(t, got, "alan@example.org", 1, c.reviewAt)
	wantPerson(t, got, "renee@example.fr", 3, c.weeklyAt.Add(14*day))
	if got["grace@example.com"].name != "Amazing Grace" || got["renee@example.fr"].name != "Renée Dupont" {
		t.Errorf("names: %+v", got)
	}
	for _, addr := range []string{"katherine@example.org", "owner+cal@mine.example", f.addr, "no-reply@billing.example.net",
		"c_1888abc@resource.calendar.google.com", "sales@vendor.example", "ada@example.com"} {
		if _, ok := got[addr]; ok {
			t.Errorf("%s became a contact", addr)
		}
	}
	if len(got) != 3 {
		t.Errorf("%d contacts: %+v", len(got), got)
	}
	// Lunch, review, six occurrences and the dinner to come.
	if n := f.events(t); n != 9 {
		t.Errorf("%d events stored", n)
	}
	var status, token string
	var page *string
	if err := f.pool.QueryRow(context.Background(), `select status, coalesce(sync_token, ''), page_token from calendar_sync_state where account_id = $1`, f.account).
		Scan(&status, &token, &page); err != nil || status != meeting.StatusSynced || token == "" || page != nil {
		t.Fatalf("state %s %q %v: %v", status, token, page, err)
	}
}

// TestCalendarSyncTwice: running the sync again, in full or not, changes
// nothing; another user's contacts stay as they were.
func TestCalendarSyncTwice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, calendarsync.Options{PageSize: 4})
	f.seed(t)
	ctx := context.Background()
	other, _ := testkit.User(t, f.pool, "other@elsewhere.example")
	if _, err := f.pool.Exec(ctx, `insert into contacts (id, user_id, email, name, interaction_count) values ($1, $2, 'grace@example.com', 'Grace', 7)`,
		uuid.Must(uuid.NewV7()), other); err != nil {
		t.Fatal(err)
	}
	f.syncOK(t, false)
	snapshot := func() string {
		var s string
		if err := f.pool.QueryRow(ctx, `select concat_ws('|',
				(select string_agg(concat_ws(',', id, email, name, interaction_count, last_interaction_at, updated_at), ';' order by id) from contacts),
				(select string_agg(concat_ws(',', event_id, contact_id, starts_at, response, role, created_at), ';' order by event_id, contact_id) from event_contacts),
				(select string_agg(concat_ws(',', id, google_id, updated_at, linked_at), ';' order by id) from calendar_events))`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := snapshot()
	f.syncOK(t, false)
	f.syncOK(t, true)
	if after := snapshot(); after != before {
		t.Errorf("a second sync changed data:\nbefore %s\nafter  %s", before, after)
	}
	var n int
	if err := f.pool.QueryRow(ctx, `select interaction_count from contacts where user_id = $1`, other).Scan(&n); err != nil || n != 7 {
		t.Errorf("the other user's contact: %d interactions, %v", n, err)
	}
}

// TestCalendarSyncIncremental: later syncs read what changed: new
// meetings count, cancelled and declined ones and removed guests no
// longer do, exactly.
func TestCalendarSyncIncremental(t *testing.T) {
	t.Parallel()
	f := newFixture(t, calendarsync.Options{})
	c := f.seed(t)
	f.syncOK(t, false)
	listed := f.kit.Sandbox.Calls("calendar")

	newAt := at(-2 * day)
	f.meet(newAt, "Coffee", guest("Mary Jackson", "mary@example.com", "accepted"), guest("Alan Turing", "alan@example.org", "accepted"))
	f.kit.Sandbox.CancelEvent(f.addr, c.lunch)
	f.kit.Sandbox.ChangeEvent(f.addr, c.review, func(e *sandbox.CalendarEvent) { // the user declines after all
		e.Attendees[0].ResponseStatus = "declined"
	})
	f.syncOK(t, false)
	if n := f.kit.Sandbox.Calls("calendar") - listed; n != 1 {
		t.Errorf("%d calls for one page of changes", n)
	}
	got := f.people(t)
	wantPerson(t, got, "mary@example.com", 1, newAt)
	wantPerson(t, got, "alan@example.org", 1, newAt)
	wantPerson(t, got, "grace@example.com", 0, time.Time{})
	wantPerson(t, got, "renee@example.fr", 3, c.weeklyAt.Add(14*day))
	if n := f.events(t); n != 8 { // 9 - lunch - review + coffee
		t.Errorf("%d events", n)
	}

	// Renée leaves the weekly meeting: its occurrences are meetings with
	// nobody.
	f.kit.Sandbox.ChangeEvent(f.addr, c.weekly, func(e *sandbox.CalendarEvent) { e.Attendees = e.Attendees[:1] })
	f.syncOK(t, false)
	wantPerson(t, f.people(t), "renee@example.fr", 0, time.Time{})
}

// TestCalendarSyncRecurring: occurrences, and meetings to come, count
// once they have happened: four days later, one more occurrence does,
// and the dinner.
func TestCalendarSyncRecurring(t *testing.T) {
	t.Parallel()
	f := newFixture(t, calendarsync.Options{})
	c := f.seed(t)
	f.syncOK(t, false)
	wantPerson(t, f.people(t), "renee@example.fr", 3, c.weeklyAt.Add(14*day))
	wantPerson(t, f.people(t), "grace@example.com", 1, c.lunchAt)

	f.shift = 4 * day // past the dinner and one more occurrence
	f.syncOK(t, false)
	wantPerson(t, f.people(t), "renee@example.fr", 4, c.weeklyAt.Add(21*day))
	wantPerson(t, f.people(t), "grace@example.com", 2, c.futureAt)
}

// TestCalendarSyncTokenExpired: when Google drops the sync token (410
// Gone), the sync starts over in full and ends where it should.
func TestCalendarSyncTokenExpired(t *testing.T) {
	t.Parallel()
	f := newFixture(t, calendarsync.Options{})
	c := f.seed(t)
	f.syncOK(t, false)
	f.kit.Sandbox.ExpireCalendarSync(f.addr)
	f.kit.Sandbox.CancelEvent(f.addr, c.lunch)
	newAt := at(-1 * day)
	f.meet(newAt, "Walk", guest("Grace Hopper", "grace@example.com", "accepted"))
	f.syncOK(t, false)
	got := f.people(t)
	wantPerson(t, got, "grace@example.com", 1, newAt)
	wantPerson(t, got, "alan@example.org", 1, c.reviewAt)
	// The full sync lists only what is not cancelled: the lunch that went
	// while the token was gone is swept with the events Google no longer
	// lists.
	var lunch int
	if err := f.pool.QueryRow(context.Background(), `select count(*) from calendar_events where google_id = $1`, c.lunch).Scan(&lunch); err != nil || lunch != 0 {
		t.Errorf("the cancelled lunch is still stored (%d): %v", lunch, err)
	}
}

// TestCalendarSyncResumes: a run near its deadline stops after a page,
// keeps its page token and leaves the rest to a continuation job.
func TestCalendarSyncResumes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, calendarsync.Options{PageSize: 2})
	c := f.seed(t)
	j := f.request(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if n, err := worker.PollOnce(ctx, f.mem, f.sync.Function(), f.sync.Handle, 0); err != nil || n != 1 {
		t.Fatalf("%d runs: %v", n, err)
	}
	if got := f.job(t, j.ID); got.State != queue.Succeeded {
		t.Fatalf("job %s", describe(got))
	}
	var status string
	var page *string
	if err := f.pool.QueryRow(context.Background(), `select status, page_token from calendar_sync_state where account_id = $1`, f.account).Scan(&status, &page); err != nil ||
		status != meeting.StatusFull || page == nil {
		t.Fatalf("state %s %v: %v", status, page, err)
	}
	if n := f.events(t); n == 0 || n > 2 {
		t.Fatalf("%d events after the first page", n)
	}
	calls := f.kit.Sandbox.Calls("calendar")
	if runs := f.drain(t); runs != 1 {
		t.Fatalf("%d continuation runs", runs)
	}
	if n := f.kit.Sandbox.Calls("calendar") - calls; n != 5 { // the rest: 9 of the 11 items listed, two a page
		t.Errorf("%d calls to finish, want 5", n)
	}
	if n := f.events(t); n != 9 {
		t.Errorf("%d events", n)
	}
	wantPerson(t, f.people(t), "renee@example.fr", 3, c.weeklyAt.Add(14*day))
}

// TestCalendarSyncNotGranted: the person unticked the calendar at the
// consent page: the job ends at once asking to grant it.
func TestCalendarSyncNotGranted(t *testing.T) {
	t.Parallel()
	f := newFixture(t, calendarsync.Options{}, google.ScopeCalendarReadonly)
	f.seed(t)
	j := f.request(t, false)
	f.drain(t)
	got := f.job(t, j.ID)
	if got.State != queue.Dead || got.Attempts != 1 || got.LastError == nil || !strings.HasPrefix(*got.LastError, "Grant access to Google Calendar") {
		t.Fatalf("job %s", describe(got))
	}
	if n := f.kit.Sandbox.Calls("calendar"); n != 1 {
		t.Errorf("%d calendar calls, want the one refused", n)
	}
	if n := f.events(t); n != 0 {
		t.Errorf("%d events", n)
	}
}

// TestCalendarSyncScopeRefused: Google refuses the call for a missing
// scope (403 ACCESS_TOKEN_SCOPE_INSUFFICIENT) although the stored grant
// lists it: the job ends at once and the grant no longer does.
func TestCalendarSyncScopeRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, calendarsync.Options{}, google.ScopeCalendarReadonly)
	if _, err := f.pool.Exec(context.Background(), `update accounts set scope = scope || ' '|| $2 where id = $1`, f.account, google.ScopeCalendarReadonly); err != nil {
		t.Fatal(err)
	}
	j := f.request(t, false)
	f.drain(t)
	got := f.job(t, j.ID)
	if got.State != queue.Dead || got.LastError == nil || !strings.HasPrefix(*got.LastError, "Grant access to Google Calendar") {
		t.Fatalf("job %s", describe(got))
	}
	if n := f.kit.Sandbox.Calls("calendar"); n != 1 {
		t.Errorf("%d calendar calls, want the one refused", n)
	}
	var scope string
	if err := f.pool.QueryRow(context.Background(), `select scope from accounts where id = $1`, f.account).Scan(&scope); err != nil || google.Calendar.Granted(scope) {
		t.Errorf("scope %q still grants the calendar: %v", scope, err)
	}
}

// TestCalendarSyncAccessRevoked: the person removed the app's access:
// the account needs consent and the job ends at once.
func TestCalendarSyncAccessRevoked(t *testing.T) {
	t.Parallel()
	f := newFixture(t, calendarsync.Options{})
	f.seed(t)
	f.kit.Sandbox.RevokeUser(f.addr)
	j := f.request(t, false)
	f.drain(t)
	got := f.job(t, j.ID)
	if got.State != queue.Dead || got.Attempts != 1 || got.LastError == nil || *got.LastError != google.ReconnectMessage {
		t.Fatalf("job %s", describe(got))
	}
	var gone bool
	if err := f.pool.QueryRow(context.Background(), `select needs_reconsent from accounts where id = $1`, f.account).Scan(&gone); err != nil || !gone {
		t.Errorf("needs consent: %v %v", gone, err)
	}
	if n := f.events(t); n != 0 {
		t.Errorf("%d events", n)
	}
}

// TestCalendarSyncFailures: rate limits are retried no sooner than
// Google's Retry-After; server errors are retried.
func TestCalendarSyncFailures(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		fail sandbox.GoogleFailure
		msg  string
		wait time.Duration
	}{
		"429":                       {sandbox.GoogleRateLimited(10 * time.Minute), "Google Calendar is limiting requests; the sync will resume shortly", 9 * time.Minute},
		"403 rateLimitExceeded":     {sandbox.GoogleQuotaPerMinute("calendar-json.googleapis.com", 10*time.Minute), "Google Calendar is limiting requests; the sync will resume shortly", 9 * time.Minute},
		"403 userRateLimitExceeded": {sandbox.GoogleUserRateLimited(10 * time.Minute), "Google Calendar is limiting requests; the sync will resume shortly", 9 * time.Minute},
		"503":                       {sandbox.GoogleFailure{Status: http.StatusServiceUnavailable, Reason: "backendError", Domain: "global", Message: "unavailable"}, "Google Calendar is unavailable", 0},
	} {
		f := newFixture(t, calendarsync.Options{})
		f.seed(t)
		f.kit.Sandbox.FailCalendarWith(tc.fail)
		j := f.request(t, false)
		f.drain(t)
		got := f.job(t, j.ID)
		if got.State != queue.Failed || got.LastError == nil || *got.LastError != tc.msg {
			t.Errorf("%s: job %s", name, describe(got))
			continue
		}
		if wait := time.Until(got.RunAt); wait < tc.wait {
			t.Errorf("%s: retried in %s", name, wait)
		}
	}
}

// TestCalendarSyncResumesAfterQuota: a full sync that Google's quota
// stops after a page keeps its page token; the next run goes on from
// there instead of starting over.
func TestCalendarSyncResumesAfterQuota(t *testing.T) {
	t.Parallel()
	f := newFixture(t, calendarsync.Options{PageSize: 2})
	c := f.seed(t)
	// The first page, then the invocation's deadline nears.
	f.request(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := worker.PollOnce(ctx, f.mem, f.sync.Function(), f.sync.Handle, 0); err != nil {
		t.Fatal(err)
	}
	// The continuation meets the quota.
	fail := sandbox.GoogleRateLimited(10 * time.Minute)
	fail.Times = 1
	f.kit.Sandbox.FailCalendarWith(fail)
	f.drain(t)
	var page *string
	if err := f.pool.QueryRow(context.Background(), `select page_token from calendar_sync_state where account_id = $1`, f.account).Scan(&page); err != nil || page == nil {
		t.Fatalf("page token %v: %v", page, err)
	}
	calls := f.kit.Sandbox.Calls("calendar")
	f.syncOK(t, false)
	if n := f.kit.Sandbox.Calls("calendar") - calls; n != 5 { // the 9 items left of 11, two a page
		t.Errorf("%d calls to finish, want 5", n)
	}
	if n := f.events(t); n != 9 {
		t.Errorf("%d events", n)
	}
	wantPerson(t, f.people(t), "renee@example.fr", 3, c.weeklyAt.Add(14*day))
}
