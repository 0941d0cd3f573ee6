package emailsync_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/functions/jobs/calendarsync"
	"github.com/personalcrm/core/functions/jobs/contactextraction"
	"github.com/personalcrm/core/functions/jobs/emailsync"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/domain/meeting"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/worker"
	"github.com/personalcrm/core/shared/sandbox"
	"github.com/personalcrm/core/shared/sealbox"
	"github.com/personalcrm/core/shared/testkit"
)

// Sizes of one simulated mailbox: a new user's small mailbox and calendar.
const (
	simMessages = 20
	simPeople   = 4
	simEvents   = 3
)

// The deployment's numbers the simulation checks against (infra/plan.go,
// package main, so not importable; infra's tests keep them there).
const (
	// simPoolConns is lambdaPoolConns: what db.Open's Lambda mode opens
	// at most; the simulation's instances open their pools in that mode.
	simPoolConns = 2
	// simJobBudget is jobConnectionBudget: every job and op together.
	simJobBudget = 60
	// simSQSMinConcurrency is sqsMinMaxConcurrency.
	simSQSMinConcurrency = 2
)

// simType is one job type of the simulation: its catalog entry, how to
// build its worker on an instance's pool, and what the run observed.
type simType struct {
	fn       catalog.Function
	build    func(pool *db.Pool) *worker.Worker
	inflight atomic.Int64
	peak     atomic.Int64
	batches  atomic.Int64
	// busy is the invocations' summed duration, last when the latest
	// one ended, both in nanoseconds (last since the Unix epoch).
	busy, last atomic.Int64
}

// handle wraps h to count the instance's invocation as in flight.
func (s *simType) handle(h worker.BatchHandler) worker.BatchHandler {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		n := s.inflight.Add(1)
		for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
		}
		start := time.Now()
		defer func() {
			end := time.Now()
			s.busy.Add(int64(end.Sub(start)))
			for l := s.last.Load(); end.UnixNano() > l && !s.last.CompareAndSwap(l, end.UnixNano()); l = s.last.Load() {
			}
			s.inflight.Add(-1)
		}()
		s.batches.Add(1)
		return h(ctx, ev)
	}
}

// budget is the connections the deployment lets this type hold: its SQS
// event source's maximum concurrency times an environment's pool, as
// infra/plan.go's jobConnections counts it.
func (s *simType) budget() int {
	return max(s.fn.MaxConcurrency, simSQSMinConcurrency) * simPoolConns
}

// BenchmarkCapacitySimulation signs up many users at once and syncs them
// through the in-memory queue with the real handlers: SIM_MAILBOXES
// sandbox mailboxes (1,000; 50 under -short), each of 20 messages with 4
// correspondents and 3 past meetings, each user's sign-in enqueueing a
// mail sync and a calendar sync as sign-in does. Each job type (email-sync,
// contact-extraction, calendar-sync) runs exactly its catalog
// MaxConcurrency instances; each instance is one Lambda environment, one
// invocation at a time with its own pool opened in db.Open's Lambda mode
// (lambdaPoolConns connections), so the connections held are counted as
// the deployment holds them: per environment, not shared between them.
// A sampler reads pg_stat_activity for the benchmark's database every
// 50 ms. It fails when the instances' connections exceed the types'
// share of the budget infra/plan.go states. Run it with -benchtime=1x:
//
//	sim_mailboxes 1000 mailboxes messages_each=20 events_each=3
//	sim_drain_s 21.9 s
//	sim_peak_connections 16 conns budget=34 job_budget=60 database_total=17 sampled_every=50ms
//	sim_jobs_per_s 1002.7 jobs/s jobs=22000
//	sim_peak_concurrency-email-sync 5 instances max=5 batches=1000 mean_batch_ms=75 done_after_s=15.0
func BenchmarkCapacitySimulation(b *testing.B) {
	n := envInt("SIM_MAILBOXES", 1000)
	if testing.Short() {
		n = 50
	}
	for range b.N {
		simulate(b, n)
	}
}

func simulate(b *testing.B, n int) {
	b.Helper()
	b.StopTimer()
	ctx := context.Background()
	d := testkit.NewDatabase(b)
	pool := d.Pool(b)
	mem := queue.NewMemory(queue.MemoryOptions{})
	q := queue.New(pool, mem, nil)

	g := testkit.StartGoogle(b, sandbox.GoogleOptions{})
	client := google.New(google.Options{
		ClientID: g.ClientID(), ClientSecret: g.ClientSecret(),
		RedirectURL: "http://127.0.0.1:1/auth/google/callback",
		Endpoints:   google.SandboxEndpoints(g.URL()), Sandbox: true,
	})
	box, err := sealbox.ParseKeys("k1:" + sealbox.NewKey())
	if err != nil {
		b.Fatal(err)
	}
	kit := testkit.GoogleKit{Sandbox: g, Client: client, Tokens: google.NewTokens(pool, client, box)}

	setup := time.Now()
	type signup struct{ user, account uuid.UUID }
	signups := make([]signup, n)
	for i := range n {
		owner := fmt.Sprintf("user%05d@mine.example", i)
		u, _, a := kit.Account(b, pool, owner)
		signups[i] = signup{u, a}
		fillSmallMailbox(g, owner, i)
	}
	b.Logf("%d accounts and mailboxes set up in %s", n, time.Since(setup).Round(time.Millisecond))

	// The instances' warnings (a retried claim, say) go to the log.
	log := slog.New(slog.NewTextHandler(benchLog{b}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	types := []*simType{
		{fn: catalog.MustLookup(catalog.EmailSync), build: func(p *db.Pool) *worker.Worker {
			return emailsync.Worker(worker.Deps{DB: p, Backend: mem, Log: log}, emailsync.Options{Google: client, Tokens: google.NewTokens(p, client, box)})
		}},
		{fn: catalog.MustLookup(catalog.ContactExtraction), build: func(p *db.Pool) *worker.Worker {
			return contactextraction.Worker(worker.Deps{DB: p, Backend: mem, Log: log}, email.WithIgnore())
		}},
		{fn: catalog.MustLookup(catalog.CalendarSync), build: func(p *db.Pool) *worker.Worker {
			return calendarsync.Worker(worker.Deps{DB: p, Backend: mem, Log: log}, calendarsync.Options{Google: client, Tokens: google.NewTokens(p, client, box)})
		}},
	}
	budget := 0
	for _, t := range types {
		budget += t.budget()
	}

	// Sample before the wave, so the peak includes the first connections.
	dbName, err := databaseName(d.URL)
	if err != nil {
		b.Fatal(err)
	}
	samp := startSampler(b, dbName)

	// Every sign-in's enqueue, then the instances start, as SQS holds a
	// wave of messages before the event sources scale up to them.
	mails, meetings := email.NewSyncs(pool, q), meeting.NewService(pool, nil, nil, q)
	for _, s := range signups {
		err := q.InTx(ctx, func(tx *queue.Tx) error {
			ok, err := mails.SyncAfterSignIn(ctx, tx, s.user, s.account)
			if err == nil && !ok {
				return fmt.Errorf("account %s cannot sync mail", s.account)
			}
			if err == nil {
				ok, err = meetings.SyncAfterSignIn(ctx, tx, s.user, s.account)
				if err == nil && !ok {
					err = fmt.Errorf("account %s cannot sync its calendar", s.account)
				}
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}

	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, t := range types {
		for i := range t.fn.MaxConcurrency {
			p := instancePool(b, d.URL, fmt.Sprintf("sim-%s-%d", t.fn.Name, i))
			w := t.build(p)
			h := t.handle(w.Handle)
			wg.Go(func() { worker.Poll(pctx, mem, w.Function(), h, nil) })
		}
	}
	b.StartTimer()
	start := time.Now()
	deadline := start.Add(10 * time.Minute)
	for !simDone(b, pool, n) {
		if time.Now().After(deadline) {
			stop()
			wg.Wait()
			b.Fatal("the sign-up wave does not drain in 10 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	drain := time.Since(start)
	b.StopTimer()
	stop()
	wg.Wait()
	peak, peakAll, err := samp.stop()
	if err != nil {
		b.Fatalf("sample pg_stat_activity: %v", err)
	}

	var stored, events, jobs int
	if err := pool.QueryRow(ctx, `select (select count(*) from emails), (select count(*) from calendar_events),
		(select count(*) from jobs)`).Scan(&stored, &events, &jobs); err != nil {
		b.Fatal(err)
	}
	if stored != n*simMessages || events != n*simEvents {
		b.Fatalf("%d of %d messages and %d of %d events stored", stored, n*simMessages, events, n*simEvents)
	}
	var wrong int
	if err := pool.QueryRow(ctx, `select count(*) from contacts c where interaction_count <>
		(select count(*) from email_contacts ec where ec.contact_id = c.id) +
		(select count(*) from event_contacts ec where ec.contact_id = c.id)`).Scan(&wrong); err != nil || wrong != 0 {
		b.Fatalf("%d contacts with a wrong interaction count: %v", wrong, err)
	}

	rows, err := pool.Query(ctx, `select kind, count(*), count(*) filter (where attempts > 1), coalesce(max(attempts), 0),
			extract(epoch from max(finished_at) - min(created_at))::float8,
			coalesce(max(error) filter (where attempts > 1), '')
		from jobs group by kind order by kind`)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var kind, lastErr string
		var count, retried, attempts int
		var span float64
		if err := rows.Scan(&kind, &count, &retried, &attempts, &span, &lastErr); err != nil {
			b.Fatal(err)
		}
		b.Logf("%s: %d jobs, %d retried (at most %d attempts), %.1f s from the first enqueued to the last finished; a retried job's error: %q", kind, count, retried, attempts, span, lastErr)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}

	b.ReportMetric(drain.Seconds(), "drain-s")
	b.ReportMetric(float64(peak), "peak-conns")
	fmt.Printf("sim_mailboxes %d mailboxes messages_each=%d events_each=%d\n", n, simMessages, simEvents)
	fmt.Printf("sim_drain_s %.1f s\n", drain.Seconds())
	fmt.Printf("sim_peak_connections %d conns budget=%d job_budget=%d database_total=%d sampled_every=50ms\n", peak, budget, simJobBudget, peakAll)
	fmt.Printf("sim_jobs_per_s %.1f jobs/s jobs=%d\n", float64(jobs)/drain.Seconds(), jobs)
	for _, t := range types {
		batches := t.batches.Load()
		fmt.Printf("sim_peak_concurrency-%s %d instances max=%d batches=%d mean_batch_ms=%.0f done_after_s=%.1f\n",
			t.fn.Name, t.peak.Load(), t.fn.MaxConcurrency, batches,
			float64(t.busy.Load())/float64(max(batches, 1))/1e6, time.Unix(0, t.last.Load()).Sub(start).Seconds())
		if int(t.peak.Load()) > t.fn.MaxConcurrency {
			b.Errorf("%s ran %d invocations at once; its cap is %d", t.fn.Name, t.peak.Load(), t.fn.MaxConcurrency)
		}
	}
	if peak > budget {
		b.Errorf("the instances held %d connections at peak; the budget for these job types is %d", peak, budget)
	}
	if peak > simJobBudget {
		b.Errorf("the instances held %d connections at peak; the jobs' budget is %d", peak, simJobBudget)
	}
}

// fillSmallMailbox gives owner a mailbox of simMessages messages with
// simPeople correspondents, and simEvents past meetings with two of them.
func fillSmallMailbox(g *sandbox.Google, owner string, i int) {
	person := func(k int) string {
		p := (i*simPeople + k%simPeople) % 5000
		return fmt.Sprintf("Person %d <person%04d@example.com>", p, p)
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for m := range simMessages {
		sent := base.Add(time.Duration(m) * time.Hour)
		from, to := person(m), "Owner <"+owner+">"
		if m%2 == 1 {
			from, to = "Owner <"+owner+">", person(m)+", "+person(m+1)
		}
		g.AddMessage(owner, sandbox.GmailMessage{Snippet: fmt.Sprintf("Message %d", m),
			Headers: sandbox.MessageHeaders(from, to, fmt.Sprintf("Message %d", m), sent), Received: sent.Add(time.Minute)})
	}
	for e := range simEvents {
		start := time.Now().Truncate(time.Hour).Add(-time.Duration(e+1) * 24 * time.Hour)
		as := []sandbox.CalendarAttendee{{Email: owner, ResponseStatus: "accepted", Organizer: true}}
		for k := range 2 {
			p := (i*simPeople + (e+k)%simPeople) % 5000
			as = append(as, sandbox.CalendarAttendee{Email: fmt.Sprintf("person%04d@example.com", p), DisplayName: fmt.Sprintf("Person %d", p), ResponseStatus: "accepted"})
		}
		g.AddEvent(owner, sandbox.CalendarEvent{Summary: fmt.Sprintf("Meeting %d", e), Start: start, End: start.Add(30 * time.Minute), Attendees: as})
	}
}

// simDone reports whether every user's mail and calendar syncs and every
// extraction they caused have ended; a dead job fails the benchmark.
func simDone(b *testing.B, pool *db.Pool, n int) bool {
	b.Helper()
	var open, dead, synced int
	err := pool.QueryRow(context.Background(), `select
		count(*) filter (where state not in ('succeeded', 'dead')),
		count(*) filter (where state = 'dead'),
		count(distinct user_id) filter (where kind = $1 and state = 'succeeded')
		from jobs`, catalog.EmailSync).Scan(&open, &dead, &synced)
	if err != nil {
		b.Fatal(err)
	}
	if dead > 0 {
		b.Fatalf("%d dead jobs", dead)
	}
	return open == 0 && synced == n
}

// instancePool opens a pool as one Lambda environment does (db.Open's
// Lambda mode), named so that the sampler tells its connections apart.
func instancePool(b *testing.B, dbURL, name string) *db.Pool {
	b.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		b.Fatal(err)
	}
	v := u.Query()
	v.Set("application_name", name)
	u.RawQuery = v.Encode()
	p, err := db.Open(context.Background(), u.String(), db.Options{Mode: db.Lambda})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	return p
}

func databaseName(dbURL string) (string, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(u.Path, "/"), nil
}

// sampler counts the connections to a database every 50 ms.
type sampler struct {
	done          chan struct{}
	wg            sync.WaitGroup
	peak, peakAll int
	err           error
}

// startSampler samples pg_stat_activity for database name from a
// connection of its own to the server, which it does not count: the
// instances' connections (application_name sim-*) and every one.
func startSampler(b *testing.B, name string) *sampler {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testkit.ServerURL())
	if err != nil {
		b.Fatal(err)
	}
	s := &sampler{done: make(chan struct{})}
	s.wg.Go(func() {
		defer conn.Close(ctx)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			var sim, all int
			if err := conn.QueryRow(ctx, `select count(*) filter (where application_name like 'sim-%'), count(*)
				from pg_stat_activity where datname = $1`, name).Scan(&sim, &all); err != nil {
				s.err = err
				return
			}
			s.peak, s.peakAll = max(s.peak, sim), max(s.peakAll, all)
			select {
			case <-s.done:
				return
			case <-tick.C:
			}
		}
	})
	b.Cleanup(func() {
		select {
		case <-s.done:
		default:
			close(s.done)
		}
		s.wg.Wait()
	})
	return s
}

// stop ends the sampling and returns the peaks: the instances'
// connections and the database's.
func (s *sampler) stop() (int, int, error) {
	close(s.done)
	s.wg.Wait()
	return s.peak, s.peakAll, s.err
}

// benchLog writes log lines to the benchmark's log.
type benchLog struct{ b *testing.B }

func (l benchLog) Write(p []byte) (int, error) {
	l.b.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
