package workers_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/personalcrm/core/functions/jobs/calendarsync"
	"github.com/personalcrm/core/functions/workers"
	"github.com/personalcrm/core/functions/workers/aianalysis"
	"github.com/personalcrm/core/functions/workers/enrich"
	"github.com/personalcrm/core/functions/workers/mailsync"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/worker"
	"github.com/personalcrm/core/shared/sealbox"
	"github.com/personalcrm/core/shared/testkit"
)

// mailbox is a user with synced mail whose expected contacts are known.
type mailbox struct {
	user   uuid.UUID
	owner  string
	emails []uuid.UUID
	// want is each expected contact's interaction count.
	want map[string]int
}

// seed stores n emails of a new user, exchanged with people drawn from a
// set of size people, plus the user's own addresses and automated senders
// that make no contact. Headers use display names, encoded words, odd
// casing and groups.
func seed(tb testing.TB, pool *db.Pool, n, people int) mailbox {
	tb.Helper()
	ctx := context.Background()
	owner := "owner-" + uuid.NewString()[:8] + "@mine.example"
	user, _ := testkit.User(tb, pool, owner)
	svc := email.NewService(pool)
	r := rand.New(rand.NewPCG(1, uint64(n)))
	person := func(i int) (header, addr string) {
		addr = fmt.Sprintf("person%03d@example.com", i)
		switch i % 4 {
		case 0:
			return fmt.Sprintf("Person %d <%s>", i, addr), addr
		case 1:
			return fmt.Sprintf("=?UTF-8?Q?P=C3=A9rson_%d?= <%s>", i, strings.ToUpper(addr)), addr
		case 2:
			return fmt.Sprintf(`"Person, %d" <%s>`, i, addr), addr
		}
		return addr, addr
	}
	m := mailbox{user: user, owner: owner, want: map[string]int{}}
	for i := range n {
		in := map[string]bool{}
		pick := func(k int) string {
			var parts []string
			for range k {
				h, a := person(r.IntN(people))
				parts = append(parts, h)
				in[a] = true
			}
			return strings.Join(parts, ", ")
		}
		f := email.Fields{Mailbox: owner, Subject: fmt.Sprintf("Message %d", i)}
		sent := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
		f.SentAt = &sent
		if i%2 == 0 {
			f.From = pick(1)
			f.To = "Me <" + strings.ToUpper(owner) + ">, " + pick(1)
		} else {
			f.From = owner
			f.To = "Team: " + pick(2) + ";"
		}
		f.Cc = pick(r.IntN(3)) + ", Robot <noreply@example.com>"
		e, err := svc.Create(ctx, user, f)
		if err != nil {
			tb.Fatal(err)
		}
		m.emails = append(m.emails, e.ID)
		for a := range in {
			m.want[a]++
		}
	}
	return m
}

// counts reads every contact's interaction count, and the links.
func counts(tb testing.TB, pool *db.Pool, user uuid.UUID) (map[string]int, int) {
	tb.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `select email, interaction_count from contacts where user_id = $1`, user)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var e string
		var n int
		if err := rows.Scan(&e, &n); err != nil {
			tb.Fatal(err)
		}
		out[e] = n
	}
	var links int
	if err := pool.QueryRow(ctx, `select count(*) from email_contacts where user_id = $1`, user).Scan(&links); err != nil {
		tb.Fatal(err)
	}
	return out, links
}

// duplicateEffects is how far the contacts are from what each email
// counted once gives: extra or missing interactions, and extra links.
func duplicateEffects(tb testing.TB, pool *db.Pool, m mailbox) int {
	tb.Helper()
	got, links := counts(tb, pool, m.user)
	off, wantLinks := 0, 0
	for a, n := range m.want {
		wantLinks += n
		off += abs(got[a] - n)
	}
	for a, n := range got {
		if _, ok := m.want[a]; !ok {
			off += n + 1 // a contact that should not exist
		}
	}
	return off + abs(links-wantLinks)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// enqueueAll writes a contact-extraction job per email and sends them.
func enqueueAll(tb testing.TB, q *queue.Queue, m mailbox) []queue.Job {
	tb.Helper()
	var jobs []queue.Job
	err := q.InTx(context.Background(), func(tx *queue.Tx) error {
		for _, id := range m.emails {
			j, err := tx.Enqueue(context.Background(), queue.ContactExtraction{UserID: m.user, EmailID: id})
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return jobs
}

func TestContactExtraction(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	mem := queue.NewMemory(queue.MemoryOptions{})
	q := queue.New(pool, mem, nil)
	w := workers.ContactExtraction(workers.Deps{DB: pool, Backend: mem, Extraction: email.WithIgnore()})
	fn := w.Function()
	m := seed(t, pool, 30, 12)
	jobs := enqueueAll(t, q, m)

	// Every batch is delivered twice, as SQS may: the second changes nothing.
	var batches []events.SQSEvent
	for {
		ds, err := mem.Receive(context.Background(), fn.Name, fn.BatchSize, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			break
		}
		batches = append(batches, worker.Event(fn.Name, ds))
	}
	for round := range 2 {
		for _, ev := range batches {
			res, err := w.Handle(context.Background(), ev)
			if err != nil || len(res.BatchItemFailures) != 0 {
				t.Fatalf("round %d: %+v %v", round, res, err)
			}
		}
		if n := duplicateEffects(t, pool, m); n != 0 {
			got, _ := counts(t, pool, m.user)
			t.Fatalf("round %d: %d duplicate effects\n%s", round, n, cmp.Diff(m.want, got))
		}
	}
	for _, j := range jobs {
		got, err := queue.Get(context.Background(), pool, m.user, j.ID)
		if err != nil || got.State != queue.Succeeded || got.Attempts != 1 {
			t.Fatalf("job %s: %+v %v", j.ID, got, err)
		}
	}
	got, _ := counts(t, pool, m.user)
	if _, ok := got[m.owner]; ok {
		t.Error("the user is their own contact")
	}
	if _, ok := got["noreply@example.com"]; ok {
		t.Error("an automated sender is a contact")
	}
}

// TestContactExtractionOfAMissingEmail: an email deleted since its job was
// enqueued leaves nothing to do.
func TestContactExtractionOfAMissingEmail(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	mem := queue.NewMemory(queue.MemoryOptions{})
	q := queue.New(pool, mem, nil)
	w := workers.ContactExtraction(workers.Deps{DB: pool, Backend: mem})
	user, _ := testkit.User(t, pool, "gone@example.com")
	jobs := enqueueAll(t, q, mailbox{user: user, emails: []uuid.UUID{uuid.New()}})
	if _, err := worker.PollOnce(context.Background(), mem, w.Function(), w.Handle, 0); err != nil {
		t.Fatal(err)
	}
	if got, _ := queue.Get(context.Background(), pool, user, jobs[0].ID); got.State != queue.Succeeded {
		t.Fatalf("job: %s", got.State)
	}
}

// TestEveryJobTypeHasAWorker: Jobs, given the workers built in their own
// packages, covers each job type of the catalog once.
func TestEveryJobTypeHasAWorker(t *testing.T) {
	deps := workers.Deps{}
	var got, want []string
	for _, w := range workers.Jobs(deps, mailsync.Worker(deps, mailsync.Options{}), enrich.Worker(deps, enrich.Options{}), aianalysis.Worker(deps, aianalysis.Options{}),
		calendarsync.Worker(deps, calendarsync.Options{})) {
		got = append(got, w.Function().Name)
	}
	for _, fn := range catalog.Jobs() {
		want = append(want, fn.Name)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("workers for %v, want one for each job type %v", got, want)
	}
}

func TestMaintenance(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	user, _ := testkit.User(t, pool, "tidy@example.com")
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`insert into sessions (id, user_id, token_hash, expires_at) values ($1, $2, 'old', now() - interval '1 hour')`, uuid.New(), user)
	exec(`insert into verification_tokens (identifier, token_hash, expires_at) values ('a', 'old', now() - interval '1 minute'),
		('b', 'new', now() + interval '1 hour')`)
	exec(`insert into jobs (id, kind, user_id, payload, max_attempts, state, finished_at) values
		($1, 'contact-extraction', $3, '{}', 5, 'succeeded', now() - interval '8 days'),
		($2, 'contact-extraction', $3, '{}', 5, 'succeeded', now() - interval '1 day')`, uuid.New(), uuid.New(), user)

	// An account whose tokens the old key sealed, before k2 was added.
	k1 := "k1:" + sealbox.NewKey()
	oldKeys, _ := sealbox.ParseKeys(k1)
	keys, _ := sealbox.ParseKeys("k2:" + sealbox.NewKey() + "," + k1)
	account := uuid.New()
	exec(`insert into accounts (id, user_id, provider, provider_account_id) values ($1, $2, 'google', 'sub')`, account, user)
	if err := google.NewTokens(pool, nil, oldKeys).Save(ctx, nil, user, account, &oauth2.Token{AccessToken: "a", RefreshToken: "r"}); err != nil {
		t.Fatal(err)
	}

	res, err := workers.Maintenance(pool, 7*24*time.Hour, keys, logging.Discard()).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := res.(workers.MaintenanceReport)
	if got.FinishedJobsDeleted != 1 || got.Expired.Sessions != 1 || got.Expired.VerificationTokens != 1 ||
		got.TokenKeys != (google.RekeyReport{Reencrypted: 1}) {
		t.Fatalf("report %+v", got)
	}
	var access []byte
	if err := pool.QueryRow(ctx, `select access_token from accounts where id = $1`, account).Scan(&access); err != nil || keys.Stale(access) {
		t.Fatalf("access token still on the old key (%v)", err)
	}
	var sessions, tokens, jobs int
	if err := pool.QueryRow(ctx, `select (select count(*) from sessions), (select count(*) from verification_tokens), (select count(*) from jobs)`).
		Scan(&sessions, &tokens, &jobs); err != nil {
		t.Fatal(err)
	}
	// The user's live session (from testkit.User), the live token, the recent job.
	if sessions != 1 || tokens != 1 || jobs != 1 {
		t.Fatalf("left %d sessions, %d tokens, %d jobs", sessions, tokens, jobs)
	}
}

func TestRelayOp(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	mem := queue.NewMemory(queue.MemoryOptions{})
	user, _ := testkit.User(t, pool, "relay@example.com")
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `insert into jobs (id, kind, user_id, payload, max_attempts, created_at)
		values ($1, 'contact-extraction', $2, $3, 5, now() - interval '1 minute')`,
		uuid.New(), user, `{"userId":"`+user.String()+`","emailId":"`+uuid.NewString()+`"}`); err != nil {
		t.Fatal(err)
	}
	res, err := workers.Relay(queue.New(pool, mem, nil)).Run(ctx)
	if err != nil || res.(queue.RelayResult).Sent != 1 {
		t.Fatalf("relay: %+v %v", res, err)
	}
}

// TestSyncAccounts: the scheduled sync enqueues one incremental sync per
// account that can sync and is due, in batches, and nothing new when run
// again.
func TestSyncAccounts(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	user, _ := testkit.User(t, pool, "sync@example.com")
	gmail := "openid email " + google.ScopeGmailReadonly
	account := func(provider, scope string, refresh, reconsent bool) uuid.UUID {
		t.Helper()
		id := uuid.Must(uuid.NewV7())
		var token []byte
		if refresh {
			token = []byte("sealed")
		}
		if _, err := pool.Exec(ctx, `insert into accounts (id, user_id, provider, provider_account_id, refresh_token, scope, needs_reconsent)
			values ($1, $2, $3, $4, $5, nullif($6, ''), $7)`, id, user, provider, id.String(), token, scope, reconsent); err != nil {
			t.Fatal(err)
		}
		return id
	}
	synced := func(id uuid.UUID, ago string, locked bool) {
		t.Helper()
		if _, err := pool.Exec(ctx, `insert into sync_state (account_id, user_id, history_id, last_synced_at, locked_until)
			values ($1, $2, '1', now() - $3::interval, case when $4 then now() + interval '5 minutes' end)`, id, user, ago, locked); err != nil {
			t.Fatal(err)
		}
	}

	var due []uuid.UUID
	for range 5 { // never synced
		due = append(due, account(google.Provider, gmail, true, false))
	}
	stale := account(google.Provider, gmail, true, false)
	synced(stale, "1 hour", false)
	due = append(due, stale)
	// Not due: synced lately, being synced, no Gmail scope, no refresh
	// token, needing consent, another provider.
	synced(account(google.Provider, gmail, true, false), "1 minute", false)
	synced(account(google.Provider, gmail, true, false), "1 hour", true)
	account(google.Provider, "openid email profile", true, false)
	account(google.Provider, "", true, false)
	account(google.Provider, gmail, false, false)
	account(google.Provider, gmail, true, true)
	account("microsoft", gmail, true, false)

	// One due account has a sync waiting already.
	q := queue.New(pool, nil, nil)
	err := q.InTx(ctx, func(tx *queue.Tx) error {
		_, err := tx.Enqueue(ctx, queue.EmailSync{UserID: user, AccountID: due[0]}, queue.Singleton(email.SyncKey(due[0])))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	op := workers.SyncAccounts(pool, q, workers.SyncAccountsOptions{Batch: 2})
	if op.Function.Name != catalog.SyncAccounts {
		t.Fatalf("op of %s", op.Function.Name)
	}
	res, err := op.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Skipped: the accounts without Gmail, without a refresh token or
	// needing consent, which only their person can fix.
	if want := (workers.SyncAccountsReport{Due: len(due), Enqueued: len(due) - 1, Skipped: 4, Complete: true}); res != want {
		t.Fatalf("first run: %+v, want %+v", res, want)
	}
	rows, err := pool.Query(ctx, `select (payload->>'accountId')::uuid, singleton_key, coalesce((payload->>'full')::bool, false)
		from jobs where kind = $1 and state = 'pending'`, catalog.EmailSync)
	if err != nil {
		t.Fatal(err)
	}
	type job struct {
		Account uuid.UUID
		Key     string
		Full    bool
	}
	jobs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[job])
	if err != nil {
		t.Fatal(err)
	}
	got := map[uuid.UUID]int{}
	for _, j := range jobs {
		got[j.Account]++
		if j.Key != email.SyncKey(j.Account) || j.Full {
			t.Errorf("job %+v", j)
		}
	}
	want := map[uuid.UUID]int{}
	for _, id := range due {
		want[id] = 1
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("pending syncs by account (-want +got):\n%s", diff)
	}

	res, err = op.Run(ctx)
	if want := (workers.SyncAccountsReport{Due: len(due), Skipped: 4, Complete: true}); err != nil || res != want {
		t.Fatalf("second run: %+v %v, want %+v", res, err, want)
	}

	// Out of time: it leaves the accounts to the next run.
	short, cancel := context.WithDeadline(ctx, time.Now())
	defer cancel()
	res, err = op.Run(short)
	if want := (workers.SyncAccountsReport{}); err != nil || res != want {
		t.Fatalf("near the deadline: %+v %v", res, err)
	}
}
