package emailsync_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/functions/jobs/contactextraction"
	"github.com/personalcrm/core/functions/jobs/emailsync"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/worker"
	"github.com/personalcrm/core/shared/sandbox"
	"github.com/personalcrm/core/shared/testkit"
)

// pipelineInvocations is how many contact-extraction batches run at once
// (BENCH_INVOCATIONS): Lambda's concurrent invocations of the consumer.
var pipelineInvocations = envInt("BENCH_INVOCATIONS", 4)

// pipelinePeople is how many people the benchmark's mailbox is exchanged
// with, so that contacts are shared by many messages.
const pipelinePeople = 300

// BenchmarkMailPipeline measures a new user's first mail sync, from the
// sync that sign-in enqueues to every message stored and every contact
// extracted: a sandbox mailbox of 10,000 messages (BENCH_MAILBOX; 1,000
// under -short), the email-sync and contact-extraction workers polling the
// in-memory queue as the local server drives them, against local
// PostgreSQL. The baseline, in the same run, writes the same rows
// (emails, contacts, email_contacts) with CopyFrom. Run it with
// -benchtime=1x:
//
//	mail_pipeline_msgs_per_s 851 msgs/s ratio=0.14 baseline=copy_from messages=10000
//	mail_pipeline_copy_from 6158 msgs/s
func BenchmarkMailPipeline(b *testing.B) {
	n := envInt("BENCH_MAILBOX", 10000)
	if testing.Short() {
		n = 1000
	}
	var pipe, copied []float64
	for range b.N {
		p, rows := measurePipeline(b, n)
		pipe = append(pipe, p)
		// The copy is short, so the median of three.
		cs := []float64{measureCopy(b, rows), measureCopy(b, rows), measureCopy(b, rows)}
		slices.Sort(cs)
		copied = append(copied, cs[1])
	}
	p, c := pipe[len(pipe)-1], copied[len(copied)-1]
	b.ReportMetric(p, "msgs/s")
	b.ReportMetric(c, "copy-msgs/s")
	fmt.Printf("mail_pipeline_msgs_per_s %.0f msgs/s ratio=%.2f baseline=copy_from messages=%d\n", p, p/c, n)
	fmt.Printf("mail_pipeline_copy_from %.0f msgs/s\n", c)
}

// pipelineRows are the rows a pipeline run wrote, by table, with their
// columns, for the baseline to write again.
type pipelineRows struct {
	n      int
	tables []tableRows
}

type tableRows struct {
	name    string
	columns []string
	rows    [][]any
}

// measurePipeline runs the first sync of an n-message mailbox through
// both workers and returns messages per second, and the rows it wrote.
func measurePipeline(b *testing.B, n int) (float64, pipelineRows) {
	b.Helper()
	ctx := context.Background()
	pool := testkit.DB(b)
	mem := queue.NewMemory(queue.MemoryOptions{})
	q := queue.New(pool, mem, nil)
	kit := testkit.StartGoogleKit(b, pool, sandbox.GoogleOptions{})
	owner := "owner@mine.example"
	user, _, account := kit.Account(b, pool, owner)
	fillMailbox(kit.Sandbox, owner, n)

	// A first sync reads the whole mailbox here, not just its newest.
	syncer := emailsync.Worker(worker.Deps{DB: pool, Backend: mem}, emailsync.Options{Google: kit.Client, Tokens: kit.Tokens, Newest: n})
	extract := contactextraction.Worker(worker.Deps{DB: pool, Backend: mem}, email.WithIgnore())

	b.ResetTimer()
	start := time.Now()
	err := q.InTx(ctx, func(tx *queue.Tx) error {
		ok, err := email.NewSyncs(pool, q).SyncAfterSignIn(ctx, tx, user, account)
		if err == nil && !ok {
			err = fmt.Errorf("account %s cannot sync", account)
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { worker.Poll(pctx, mem, syncer.Function(), syncer.Handle, nil) })
	for range pipelineInvocations {
		wg.Go(func() { worker.Poll(pctx, mem, extract.Function(), extract.Handle, nil) })
	}
	deadline := time.Now().Add(10 * time.Minute)
	var synced time.Duration
	for {
		stored, done := pipelineDone(b, pool, user, n)
		if stored && synced == 0 {
			synced = time.Since(start)
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			stop()
			wg.Wait()
			b.Fatal("the pipeline does not finish")
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.Logf("%d messages stored in %s, extracted in %s", n, synced, elapsed)
	stop()
	wg.Wait()

	var stored, links int
	if err := pool.QueryRow(ctx, `select (select count(*) from emails where user_id = $1),
		(select count(*) from email_contacts where user_id = $1)`, user).Scan(&stored, &links); err != nil || stored != n || links == 0 {
		b.Fatalf("%d of %d messages stored, %d links: %v", stored, n, links, err)
	}
	var wrong int
	if err := pool.QueryRow(ctx, `select count(*) from contacts c where user_id = $1 and interaction_count <>
		(select count(*) from email_contacts ec where ec.contact_id = c.id)`, user).Scan(&wrong); err != nil || wrong != 0 {
		b.Fatalf("%d contacts with a wrong interaction count: %v", wrong, err)
	}
	rows := pipelineRows{n: n}
	for _, t := range []string{"emails", "contacts", "email_contacts"} {
		rows.tables = append(rows.tables, readTable(b, pool, t, user))
	}
	return float64(n) / elapsed.Seconds(), rows
}

// pipelineDone reports whether the user's n messages are stored and
// every sync has ended, and whether every job has ended too, with each
// message named by an extraction job that succeeded. It reads the few
// job rows first and counts the messages only once no sync is left, so
// that its polling costs the database little while the pipeline runs.
func pipelineDone(b *testing.B, pool *db.Pool, user uuid.UUID, n int) (stored, done bool) {
	ctx := context.Background()
	var syncing, open, dead int
	err := pool.QueryRow(ctx, `select
		count(*) filter (where kind = $2 and state not in ('succeeded', 'dead')),
		count(*) filter (where state not in ('succeeded', 'dead')),
		count(*) filter (where state = 'dead')
		from jobs where user_id = $1`, user, catalog.EmailSync).Scan(&syncing, &open, &dead)
	if err != nil || dead > 0 {
		b.Fatalf("%d dead jobs: %v", dead, err)
	}
	if syncing > 0 {
		return false, false
	}
	var emails int
	if err := pool.QueryRow(ctx, `select count(*) from emails where user_id = $1`, user).Scan(&emails); err != nil {
		b.Fatal(err)
	}
	if stored = emails == n; !stored || open > 0 {
		return stored, false
	}
	var extracted int
	if err := pool.QueryRow(ctx, `select count(distinct e.id) from jobs j, `+extractionEmails+` as e(id)
		where j.user_id = $1 and j.kind = $2 and j.state = 'succeeded'`, user, catalog.ContactExtraction).Scan(&extracted); err != nil {
		b.Fatal(err)
	}
	return true, extracted == n
}

// extractionEmails are the emails a contact-extraction job j names, as
// a set-returning expression.
const extractionEmails = `lateral (select j.payload->>'emailId' union all
	select jsonb_array_elements_text(coalesce(j.payload->'emailIds', '[]')))`

// fillMailbox adds n messages to the sandbox mailbox of owner, newest
// last: every other one from one of pipelinePeople to the owner and
// another, the rest from the owner to two of them, some with copies.
func fillMailbox(g *sandbox.Google, owner string, n int) {
	r := rand.New(rand.NewPCG(7, uint64(n)))
	pick := func(k int) string {
		var parts []string
		for range k {
			i := r.IntN(pipelinePeople)
			parts = append(parts, fmt.Sprintf("Person %d <person%03d@example.com>", i, i))
		}
		return strings.Join(parts, ", ")
	}
	for i := range n {
		sent := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
		from, to := pick(1), "Owner <"+owner+">, "+pick(1)
		if i%2 == 1 {
			from, to = "Owner <"+owner+">", pick(2)
		}
		h := sandbox.MessageHeaders(from, to, fmt.Sprintf("Message %d", i), sent)
		if c := r.IntN(3); c > 0 {
			h = append(h, [2]string{"Cc", pick(c)})
		}
		g.AddMessage(owner, sandbox.GmailMessage{Snippet: fmt.Sprintf("Message %d", i), Headers: h, Received: sent.Add(time.Minute)})
	}
}

// readTable reads the user's rows of table, stored columns only.
func readTable(b *testing.B, pool *db.Pool, table string, user uuid.UUID) tableRows {
	b.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `select column_name from information_schema.columns
		where table_schema = current_schema() and table_name = $1 and is_generated = 'NEVER'
		order by ordinal_position`, table)
	if err != nil {
		b.Fatal(err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatal(err)
	}
	t := tableRows{name: table, columns: cols}
	rows, err = pool.Query(ctx, `select `+strings.Join(cols, ", ")+` from `+table+` where user_id = $1`, user)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			b.Fatal(err)
		}
		t.rows = append(t.rows, v)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return t
}

// measureCopy is the baseline: the rows of a pipeline run written with
// CopyFrom, table by table, into a new database with the same user and
// account. It returns messages per second.
func measureCopy(b *testing.B, r pipelineRows) float64 {
	b.Helper()
	ctx := context.Background()
	d := testkit.NewDatabase(b)
	pool := d.Pool(b)
	user := r.tables[0].rows[0][indexOf(r.tables[0].columns, "user_id")].([16]byte)
	account := r.tables[0].rows[0][indexOf(r.tables[0].columns, "account_id")].([16]byte)
	if _, err := pool.Exec(ctx, `insert into users (id, email) values ($1, 'owner@mine.example')`, uuid.UUID(user)); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `insert into accounts (id, user_id, provider, provider_account_id) values ($1, $2, 'google', 'sub')`,
		uuid.UUID(account), uuid.UUID(user)); err != nil {
		b.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, d.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	start := time.Now()
	for _, t := range r.tables {
		n, err := conn.CopyFrom(ctx, pgx.Identifier{t.name}, t.columns, pgx.CopyFromRows(t.rows))
		if err != nil || int(n) != len(t.rows) {
			b.Fatalf("copy %s: %d of %d rows: %v", t.name, n, len(t.rows), err)
		}
	}
	return float64(r.n) / time.Since(start).Seconds()
}

func indexOf(cols []string, name string) int {
	for i, c := range cols {
		if c == name {
			return i
		}
	}
	panic("no column " + name)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
