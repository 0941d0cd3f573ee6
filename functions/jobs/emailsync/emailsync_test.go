package emailsync_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/functions/jobs/contactextraction"
	"github.com/personalcrm/core/functions/jobs/emailsync"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/domain/user"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/worker"
	"github.com/personalcrm/core/shared/sandbox"
	"github.com/personalcrm/core/shared/testkit"
)

// mailFixture is a user with a Google account at a sandbox Google whose
// mailbox the email-sync worker reads, on an in-memory queue.
type mailFixture struct {
	pool    *db.Pool
	mem     *queue.Memory
	q       *queue.Queue
	kit     testkit.GoogleKit
	sync    *worker.Worker
	user    uuid.UUID
	account uuid.UUID
	addr    string
	sent    int // messages delivered so far
}

func newMailFixture(t *testing.T, m emailsync.Options) *mailFixture {
	t.Helper()
	return newMailFixtureOn(t, testkit.DB(t), m)
}

// newMailFixtureOn is newMailFixture on the database of pool.
func newMailFixtureOn(t *testing.T, pool *db.Pool, m emailsync.Options) *mailFixture {
	t.Helper()
	mem := queue.NewMemory(queue.MemoryOptions{})
	kit := testkit.StartGoogleKit(t, pool, sandbox.GoogleOptions{})
	m.Google, m.Tokens = kit.Client, kit.Tokens
	addr := "owner@mine.example"
	user, _, account := kit.Account(t, pool, addr)
	return &mailFixture{
		pool: pool, mem: mem, q: queue.New(pool, mem, nil), kit: kit, addr: addr, user: user, account: account,
		sync: emailsync.Worker(worker.Deps{DB: pool, Backend: mem}, m),
	}
}

// deliver adds n messages to the mailbox, each from a person of its own.
func (f *mailFixture) deliver(n int) []string {
	var ids []string
	for range n {
		f.sent++
		i := f.sent
		sent := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		ids = append(ids, f.kit.Sandbox.AddMessage(f.addr, sandbox.GmailMessage{
			Snippet:  fmt.Sprintf("Message %d &amp; more", i),
			Headers:  sandbox.MessageHeaders(fmt.Sprintf("Person %d <person%d@example.com>", i, i), "Owner <"+f.addr+">", fmt.Sprintf("Hello %d", i), sent),
			Received: sent.Add(time.Minute),
		}))
	}
	return ids
}

// request enqueues a sync as the API does.
func (f *mailFixture) request(t *testing.T, full bool) queue.Job {
	t.Helper()
	var j queue.Job
	err := f.q.InTx(context.Background(), func(tx *queue.Tx) error {
		var err error
		j, err = tx.Enqueue(context.Background(), email.SyncJob{UserID: f.user, AccountID: f.account, Full: full}, queue.Singleton(email.SyncKey(f.account)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// drain runs the email-sync jobs on the queue, continuations included,
// until none is left, and returns how many ran.
func (f *mailFixture) drain(t *testing.T) int {
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

// counts are the user's emails, their distinct provider ids, the emails
// the contact-extraction jobs name (an email twice if two jobs do) and
// the distinct emails they name.
type tally struct{ emails, providerIDs, extractions, extracted int }

func (f *mailFixture) tally(t *testing.T) tally {
	t.Helper()
	var c tally
	err := f.pool.QueryRow(context.Background(), `select
		(select count(*) from emails where user_id = $1),
		(select count(distinct provider_id) from emails where user_id = $1),
		(select count(e.id) from jobs j, `+extractionEmails+` as e(id) where j.user_id = $1 and j.kind = 'contact-extraction'),
		(select count(distinct e.id) from jobs j, `+extractionEmails+` as e(id) where j.user_id = $1 and j.kind = 'contact-extraction')`, f.user).
		Scan(&c.emails, &c.providerIDs, &c.extractions, &c.extracted)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *mailFixture) wantCounts(t *testing.T, n int) {
	t.Helper()
	if got := f.tally(t); got != (tally{n, n, n, n}) {
		t.Fatalf("got %+v, want %d emails, each once and extracted once", got, n)
	}
}

func (f *mailFixture) state(t *testing.T) (history, full *string) {
	t.Helper()
	if err := f.pool.QueryRow(context.Background(), `select history_id, full_history_id from sync_state where account_id = $1`, f.account).Scan(&history, &full); err != nil {
		t.Fatal(err)
	}
	return history, full
}

func (f *mailFixture) job(t *testing.T, id uuid.UUID) queue.Job {
	t.Helper()
	j, err := queue.Get(context.Background(), f.pool, f.user, id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestEmailSyncFull(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t, emailsync.Options{PageSize: 10})
	ctx := context.Background()
	ids := f.deliver(25)
	j := f.request(t, false)
	if runs := f.drain(t); runs != 1 {
		t.Fatalf("%d runs", runs)
	}
	if got := f.job(t, j.ID); got.State != queue.Succeeded {
		t.Fatalf("job %s", describe(got))
	}
	f.wantCounts(t, 25)
	// Each page's messages read in one batch request.
	if n := f.kit.Sandbox.Calls("gmail batch"); n != 3 {
		t.Errorf("%d batch requests for 3 pages", n)
	}
	// One extraction job a page of new messages.
	var pages int
	if err := f.pool.QueryRow(ctx, `select count(*) from jobs where user_id = $1 and kind = 'contact-extraction'`, f.user).Scan(&pages); err != nil || pages != 3 {
		t.Fatalf("%d extraction jobs for 3 pages: %v", pages, err)
	}
	if history, full := f.state(t); history == nil || full != nil {
		t.Fatalf("state: history %v, full sync %v", history, full)
	}

	// The message as stored: headers, dates, labels, snippet unescaped.
	var e email.Email
	rows, err := f.pool.Query(ctx, `select `+db.NewTable[email.Email]("emails", "email").Columns()+` from emails where provider_id = $1`, ids[0])
	if err == nil {
		e, err = db.NewTable[email.Email]("emails", "email").Scan(rows, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if *e.From != "Person 1 <person1@example.com>" || *e.Subject != "Hello 1" || *e.Mailbox != f.addr ||
		*e.Snippet != "Message 1 & more" || e.MessageID == nil || e.AccountID == nil || *e.AccountID != f.account ||
		e.SentAt == nil || !e.SentAt.Equal(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)) ||
		e.ReceivedAt == nil || !e.ReceivedAt.Equal(time.Date(2026, 3, 1, 10, 1, 0, 0, time.UTC)) ||
		len(e.Labels) != 1 || e.Labels[0] != "INBOX" {
		t.Errorf("stored %+v", e)
	}

	// The extraction jobs make the senders contacts.
	extract := contactextraction.Worker(worker.Deps{DB: f.pool, Backend: f.mem}, email.WithIgnore())
	for {
		n, err := worker.PollOnce(ctx, f.mem, extract.Function(), extract.Handle, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	var contacts int
	if err := f.pool.QueryRow(ctx, `select count(*) from contacts where user_id = $1 and email like 'person%@example.com'`, f.user).Scan(&contacts); err != nil || contacts != 25 {
		t.Fatalf("%d contacts: %v", contacts, err)
	}

	// Again, in full: nothing new, nothing extracted twice, and messages
	// already stored are not fetched again.
	fetched := f.kit.Sandbox.Calls("gmail " + ids[0])
	f.request(t, true)
	f.drain(t)
	f.wantCounts(t, 25)
	if n := f.kit.Sandbox.Calls("gmail " + ids[0]); n != fetched {
		t.Errorf("a stored message was fetched again: %d then %d", fetched, n)
	}
}

// TestEmailSyncResumesAfterAFailedPage: a full sync whose third page
// cannot be stored keeps the two before it, with the state that resumes
// after them, although the pages after it were already being read; run
// again, it stores the rest, each message once, and reads none of the
// stored ones again.
func TestEmailSyncResumesAfterAFailedPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testkit.NewDatabase(t)
	owner := d.OwnerPool(t)
	f := newMailFixtureOn(t, d.Pool(t), emailsync.Options{PageSize: 5})
	ids := f.deliver(23) // listed newest first: the third page holds Hello 13 to Hello 9
	if _, err := owner.Exec(ctx, `create function refuse_hello_12() returns trigger language plpgsql as $$
		begin
			if new.subject = 'Hello 12' then raise exception 'refused'; end if;
			return new;
		end $$;
		create trigger refuse_hello_12 before insert on emails for each row execute function refuse_hello_12()`); err != nil {
		t.Fatal(err)
	}
	j := f.request(t, false)
	f.drain(t)
	if got := f.job(t, j.ID); got.State != queue.Failed {
		t.Fatalf("job %s", describe(got))
	}
	f.wantCounts(t, 10)
	var newest int
	if err := f.pool.QueryRow(ctx, `select count(*) from emails where user_id = $1 and subject in ('Hello 23', 'Hello 14')`, f.user).Scan(&newest); err != nil || newest != 2 {
		t.Fatalf("%d of the first two pages' ends stored: %v", newest, err)
	}

	if _, err := owner.Exec(ctx, `drop trigger refuse_hello_12 on emails`); err != nil {
		t.Fatal(err)
	}
	// Its retry, without waiting for its backoff.
	if _, err := f.pool.Exec(ctx, `update jobs set state = 'sent' where id = $1`, j.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.mem.Send(ctx, j.Kind, []queue.Message{{JobID: j.ID, Kind: j.Kind, Body: j.Payload}}); err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	if got := f.job(t, j.ID); got.State != queue.Succeeded {
		t.Fatalf("job run again %s", describe(got))
	}
	f.wantCounts(t, 23)
	for i, id := range ids[13:] { // Hello 14 to Hello 23, stored by the first run
		if n := f.kit.Sandbox.Calls("gmail " + id); n != 1 {
			t.Errorf("Hello %d read %d times", 14+i, n)
		}
	}
	if history, full := f.state(t); history == nil || full != nil {
		t.Fatalf("state: history %v, full sync %v", history, full)
	}
}

// TestEmailSyncTwice: the same job delivered and run twice (its outcome
// lost after its work) stores each message once.
func TestEmailSyncTwice(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t, emailsync.Options{})
	f.deliver(6)
	j := f.request(t, true)
	f.drain(t)
	// As if the outcome had not been recorded: the job runs again.
	if _, err := f.pool.Exec(context.Background(), `update jobs set state = 'sent', finished_at = null where id = $1`, j.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.mem.Send(context.Background(), j.Kind, []queue.Message{{JobID: j.ID, Kind: j.Kind, Body: j.Payload}}); err != nil {
		t.Fatal(err)
	}
	if runs := f.drain(t); runs != 1 {
		t.Fatalf("%d runs", runs)
	}
	if got := f.job(t, j.ID); got.State != queue.Succeeded || got.Attempts != 2 {
		t.Fatalf("job %s", describe(got))
	}
	f.wantCounts(t, 6)
}

func TestEmailSyncIncremental(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t, emailsync.Options{PageSize: 2})
	old := f.deliver(5)
	f.request(t, false)
	f.drain(t)
	f.wantCounts(t, 5)
	lists := f.kit.Sandbox.Calls("gmail messages")

	f.deliver(3)
	j := f.request(t, false)
	f.drain(t)
	if got := f.job(t, j.ID); got.State != queue.Succeeded {
		t.Fatalf("job %s", describe(got))
	}
	f.wantCounts(t, 8)
	if n := f.kit.Sandbox.Calls("gmail messages"); n != lists {
		t.Errorf("an incremental sync listed the mailbox (%d list calls, were %d)", n, lists)
	}
	if f.kit.Sandbox.Calls("gmail history") < 2 { // 3 additions in pages of 2
		t.Errorf("%d history calls", f.kit.Sandbox.Calls("gmail history"))
	}
	for _, id := range old {
		if n := f.kit.Sandbox.Calls("gmail " + id); n != 1 {
			t.Errorf("old message %s fetched %d times", id, n)
		}
	}

	// Nothing new: nothing changes.
	f.request(t, false)
	f.drain(t)
	f.wantCounts(t, 8)
}

// TestEmailSyncHistoryExpired: when Gmail no longer has the history since
// the last sync, the sync starts over in full and stores what is new once.
func TestEmailSyncHistoryExpired(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t, emailsync.Options{})
	f.deliver(4)
	f.request(t, false)
	f.drain(t)
	before, _ := f.state(t)
	lists := f.kit.Sandbox.Calls("gmail messages")

	f.deliver(2)
	f.kit.Sandbox.ExpireHistory(f.addr)
	j := f.request(t, false)
	f.drain(t)
	if got := f.job(t, j.ID); got.State != queue.Succeeded {
		t.Fatalf("job %s", describe(got))
	}
	f.wantCounts(t, 6)
	if f.kit.Sandbox.Calls("gmail messages") == lists {
		t.Error("no full sync after the history expired")
	}
	if after, full := f.state(t); after == nil || *after == *before || full != nil {
		t.Errorf("state: history %v (was %v), full sync %v", after, before, full)
	}
}

// TestEmailSyncContinues: a run reads about PerRun messages and leaves the
// rest to continuation jobs, until the newest Newest are read.
func TestEmailSyncContinues(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t, emailsync.Options{PageSize: 4, PerRun: 8, Newest: 30})
	f.deliver(35)
	j := f.request(t, false)

	// The first run stops after two pages and enqueues the next part.
	if n, err := worker.PollOnce(context.Background(), f.mem, f.sync.Function(), f.sync.Handle, 0); err != nil || n != 1 {
		t.Fatalf("%d runs: %v", n, err)
	}
	if got := f.job(t, j.ID); got.State != queue.Succeeded {
		t.Fatalf("job %s", describe(got))
	}
	f.wantCounts(t, 8)
	if _, full := f.state(t); full == nil {
		t.Fatal("the full sync is not in progress")
	}
	var pending int
	if err := f.pool.QueryRow(context.Background(), `select count(*) from jobs where kind = 'email-sync' and state in ('pending', 'sent')`).Scan(&pending); err != nil || pending != 1 {
		t.Fatalf("%d continuation jobs: %v", pending, err)
	}

	if runs := f.drain(t); runs != 3 { // 8 + 8 + 8 + 6 of the newest 30
		t.Fatalf("%d more runs", runs)
	}
	f.wantCounts(t, 30)
	var oldest int
	if err := f.pool.QueryRow(context.Background(), `select count(*) from emails where subject in ('Hello 1', 'Hello 5')`).Scan(&oldest); err != nil || oldest != 0 {
		t.Fatalf("%d of the oldest messages stored: %v", oldest, err)
	}
	if history, full := f.state(t); history == nil || full != nil {
		t.Fatalf("state: history %v, full sync %v", history, full)
	}
}

// TestEmailSyncNeedsConsent: an account whose grant is gone ends the job
// at once with a message the user can act on, and no secret in it.
func TestEmailSyncNeedsConsent(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t, emailsync.Options{})
	f.deliver(2)
	f.kit.Sandbox.RevokeUser(f.addr)
	if _, err := f.pool.Exec(context.Background(), `update accounts set expires_at = now() - interval '1 second' where id = $1`, f.account); err != nil {
		t.Fatal(err)
	}
	j := f.request(t, false)
	f.drain(t)
	got := f.job(t, j.ID)
	if got.State != queue.Dead || got.Attempts != 1 || got.LastError == nil ||
		*got.LastError != google.ReconnectMessage {
		t.Fatalf("job %s", describe(got))
	}
	for _, secret := range f.kit.Sandbox.Issued() {
		if strings.Contains(*got.LastError, secret) || (got.Error != nil && strings.Contains(*got.Error, secret)) {
			t.Fatal("a token reached the job's errors")
		}
	}
	f.wantCounts(t, 0)
	if len(f.mem.DeadLetters(j.Kind)) != 1 {
		t.Errorf("%d dead letters", len(f.mem.DeadLetters(j.Kind)))
	}
}

// TestEmailSyncDisconnected: a sync queued before its person
// disconnected the account ends without reading the mailbox, and without
// failing.
func TestEmailSyncDisconnected(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t, emailsync.Options{})
	f.deliver(2)
	j := f.request(t, false)
	if _, err := user.NewData(f.pool, f.kit.Tokens).Disconnect(context.Background(), f.user); err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	if got := f.job(t, j.ID); got.State != queue.Succeeded {
		t.Fatalf("job %s", describe(got))
	}
	f.wantCounts(t, 0)
	if n := len(f.mem.DeadLetters(j.Kind)); n != 0 {
		t.Errorf("%d dead letters", n)
	}
}

// TestEmailSyncGmailFailures: Gmail's rate limits and server errors are
// retried; the job says why.
func TestEmailSyncGmailFailures(t *testing.T) {
	t.Parallel()
	for status, msg := range map[int]string{
		http.StatusTooManyRequests:    "Gmail is limiting requests; the sync will resume shortly",
		http.StatusServiceUnavailable: "Gmail is unavailable",
	} {
		f := newMailFixture(t, emailsync.Options{})
		f.deliver(2)
		f.kit.Sandbox.FailGmail(status)
		j := f.request(t, false)
		f.drain(t)
		got := f.job(t, j.ID)
		if got.State != queue.Failed || got.LastError == nil || *got.LastError != msg {
			t.Errorf("%d: job %s", status, describe(got))
		}
		f.wantCounts(t, 0)
	}
}

// TestEmailSyncUnknownAccount: a job for an account that is gone ends.
func TestEmailSyncUnknownAccount(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t, emailsync.Options{})
	var j queue.Job
	err := f.q.InTx(context.Background(), func(tx *queue.Tx) error {
		var err error
		j, err = tx.Enqueue(context.Background(), email.SyncJob{UserID: f.user, AccountID: uuid.New()})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	if got := f.job(t, j.ID); got.State != queue.Dead || got.LastError == nil || *got.LastError != "Account not found" {
		t.Fatalf("job %s", describe(got))
	}
}

// describe shows a job's state and errors.
func describe(j queue.Job) string {
	deref := func(s *string) string {
		if s == nil {
			return "<nil>"
		}
		return *s
	}
	return fmt.Sprintf("%s after %d attempts: %q (%s)", j.State, j.Attempts, deref(j.LastError), deref(j.Error))
}

// TestEmailSyncBulkRecipients: a sender cannot fill the user's contacts.
// One message addressed to 2,000 people makes at most
// email.MaxParticipants contacts, and list mail (List-Unsubscribe, List-Id
// or Precedence: list) makes only its sender one, if anyone; synced,
// then extracted, as the user's mail is.
func TestEmailSyncBulkRecipients(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t, emailsync.Options{})
	ctx := context.Background()
	many := func(prefix string, n int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %d <%s%04d@example.com>", prefix, i, prefix, i)
		}
		return b.String()
	}
	sent := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	add := func(from, to, subject string, extra ...[2]string) {
		sent = sent.Add(time.Hour)
		f.kit.Sandbox.AddMessage(f.addr, sandbox.GmailMessage{
			Snippet: subject, Received: sent.Add(time.Minute),
			Headers: append(sandbox.MessageHeaders(from, to, subject, sent), extra...),
		})
	}
	// 2,000 recipients: the header limit of 500 each, in To, Cc, Bcc and
	// Reply-To.
	add("Spammer <spammer@example.com>", many("to", 500), "Hello everyone",
		[2]string{"Cc", many("cc", 500)}, [2]string{"Bcc", many("bcc", 500)}, [2]string{"Reply-To", many("rt", 500)})
	// A list's posts: the poster is a person; the list and its members
	// are not the user's correspondents.
	add("Poster One <poster1@example.com>", "Team List <team@lists.example>, listmember1@example.com", "Unsubscribable",
		[2]string{"Cc", "listmember2@example.com"}, [2]string{"List-Unsubscribe", "<mailto:leave@lists.example>, <https://lists.example/leave>"})
	add("Poster Two <poster2@example.com>", "Team List <team@lists.example>, listmember3@example.com", "On a list",
		[2]string{"List-Id", "Team <team.lists.example>"})
	// Bulk mail: sent by a machine, so no one at all.
	add("Newsletter <news@shop.example>", "listmember4@example.com", "Deals", [2]string{"Precedence", "bulk"})
	f.request(t, false)
	f.drain(t)
	f.wantCounts(t, 4)

	extract := contactextraction.Worker(worker.Deps{DB: f.pool, Backend: f.mem}, email.WithIgnore())
	for {
		n, err := worker.PollOnce(ctx, f.mem, extract.Function(), extract.Handle, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	var bulk int
	if err := f.pool.QueryRow(ctx, `select count(*) from contacts where user_id = $1 and email not like 'poster%' and email not like 'listmember%'`, f.user).Scan(&bulk); err != nil {
		t.Fatal(err)
	}
	if bulk != email.MaxParticipants {
		t.Errorf("one message to 2,000 people made %d contacts, want %d", bulk, email.MaxParticipants)
	}
	rows, err := f.pool.Query(ctx, `select email from contacts where user_id = $1 and (email like 'poster%' or email like 'listmember%' or email like '%lists.example' or email like '%shop.example') order by email`, f.user)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for rows.Next() {
		var e string
		rows.Scan(&e)
		listed = append(listed, e)
	}
	if strings.Join(listed, " ") != "poster1@example.com poster2@example.com" {
		t.Errorf("contacts from list and bulk mail: %v, want only the posters", listed)
	}
}

// reconsent reports whether the fixture's account is marked as needing
// consent again.
func (f *mailFixture) reconsent(t *testing.T) bool {
	t.Helper()
	var gone bool
	if err := f.pool.QueryRow(context.Background(), `select needs_reconsent from accounts where id = $1`, f.account).Scan(&gone); err != nil {
		t.Fatal(err)
	}
	return gone
}

// TestEmailSyncAccessRevoked: the person removes the app's access while
// the stored access token has not expired. Gmail answers 401; the sync
// refreshes once, Google answers invalid_grant, and the account is marked
// as needing consent and the job ends at once, asking to reconnect.
func TestEmailSyncAccessRevoked(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t, emailsync.Options{})
	f.deliver(2)
	f.kit.Sandbox.RevokeUser(f.addr)
	j := f.request(t, false)
	f.drain(t)
	got := f.job(t, j.ID)
	if got.State != queue.Dead || got.Attempts != 1 || got.LastError == nil || *got.LastError != google.ReconnectMessage {
		t.Fatalf("job %s", describe(got))
	}
	if !f.reconsent(t) {
		t.Error("the account is not marked as needing consent")
	}
	f.wantCounts(t, 0)
}

// TestEmailSyncAccessTokenEndedEarly: Google ends a live access token
// while the grant stays: the sync renews it once and reads the mail.
func TestEmailSyncAccessTokenEndedEarly(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t, emailsync.Options{})
	f.deliver(3)
	f.kit.Sandbox.RevokeAccessTokens(f.addr)
	j := f.request(t, false)
	f.drain(t)
	if got := f.job(t, j.ID); got.State != queue.Succeeded || got.Attempts != 1 {
		t.Fatalf("job %s", describe(got))
	}
	f.wantCounts(t, 3)
	if f.reconsent(t) {
		t.Error("the account is marked as needing consent")
	}
}

// TestEmailSyncGmailNotGranted: the person unticked Gmail at the consent
// page. Gmail answers 403 ACCESS_TOKEN_SCOPE_INSUFFICIENT: the job ends
// at once asking to grant Gmail, and the account no longer counts as
// able to sync.
func TestEmailSyncGmailNotGranted(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	mem := queue.NewMemory(queue.MemoryOptions{})
	kit := testkit.StartGoogleKit(t, pool, sandbox.GoogleOptions{})
	addr := "unticked@mine.example"
	user, _, account := kit.Account(t, pool, addr, google.ScopeGmailReadonly)
	f := &mailFixture{pool: pool, mem: mem, q: queue.New(pool, mem, nil), kit: kit, addr: addr, user: user, account: account,
		sync: emailsync.Worker(worker.Deps{DB: pool, Backend: mem}, emailsync.Options{Google: kit.Client, Tokens: kit.Tokens})}
	f.deliver(2)
	j := f.request(t, false)
	f.drain(t)
	got := f.job(t, j.ID)
	if got.State != queue.Dead || got.Attempts != 1 || got.LastError == nil || !strings.HasPrefix(*got.LastError, "Grant access to Gmail") {
		t.Fatalf("job %s", describe(got))
	}
	if n := kit.Sandbox.Calls("gmail"); n != 1 {
		t.Errorf("%d Gmail calls, want the one refused", n)
	}
	f.wantCounts(t, 0)
}

// TestEmailSyncGmailRateLimits: Gmail's 403 rate-limit reasons and 429
// are retried no sooner than its Retry-After.
func TestEmailSyncGmailRateLimits(t *testing.T) {
	t.Parallel()
	for name, fail := range map[string]sandbox.GoogleFailure{
		"403 rateLimitExceeded":     sandbox.GoogleQuotaPerMinute("gmail.googleapis.com", 10*time.Minute),
		"403 userRateLimitExceeded": sandbox.GoogleUserRateLimited(10 * time.Minute),
		"429":                       sandbox.GoogleRateLimited(10 * time.Minute),
	} {
		f := newMailFixture(t, emailsync.Options{})
		f.deliver(2)
		fail.Times = 1
		f.kit.Sandbox.FailGmailWith(fail)
		j := f.request(t, false)
		f.drain(t)
		got := f.job(t, j.ID)
		if got.State != queue.Failed || got.LastError == nil || *got.LastError != "Gmail is limiting requests; the sync will resume shortly" {
			t.Errorf("%s: job %s", name, describe(got))
			continue
		}
		if wait := time.Until(got.RunAt); wait < 9*time.Minute {
			t.Errorf("%s: retried in %s, before Gmail's Retry-After", name, wait)
		}
		f.wantCounts(t, 0)
	}
}
