package contactextraction_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/personalcrm/core/functions/jobs/contactextraction"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/worker"
	"github.com/personalcrm/core/shared/testkit"
)

// benchInvocations is how many batches run at once: Lambda's concurrent
// invocations of the consumer, all on this machine's two cores.
var benchInvocations = envInt("BENCH_INVOCATIONS", 4)

// benchPeople is how many people the benchmark's mail is exchanged with,
// so that contacts are shared by many emails, as in a real mailbox.
const benchPeople = 300

// BenchmarkJobs measures contact extraction, b.N emails of one mailbox,
// against local PostgreSQL:
//
//   - adapter: through the worker adapter, in SQS event batches of ten
//     received from the in-memory queue, every batch delivered twice
//     (the second time after the first). msgs/s counts every delivery
//     handled, duplicates included; jobs/s counts the distinct jobs done
//     in the same time; duplicate-effects counts interactions and links
//     that differ from each email counted once (budget: 0).
//   - bare: the baseline, the same domain work for each email called
//     directly, once, with no queue, claim or outcome.
func BenchmarkJobs(b *testing.B) {
	b.Run("adapter", func(b *testing.B) {
		r := measureAdapter(b, b.N)
		b.ReportMetric(r.msgsPerS, "msgs/s")
		b.ReportMetric(r.jobsPerS, "jobs/s")
		b.ReportMetric(float64(r.duplicates), "duplicate-effects")
	})
	b.Run("bare", func(b *testing.B) {
		b.ReportMetric(measureBare(b, b.N), "jobs/s")
	})
}

// BenchmarkJobsBudget runs both sides of BenchmarkJobs five times, with
// 2,000 emails each (BENCH_JOBS, BENCH_COUNT), alternating, and prints the
// budget figures as medians:
//
//	jobs_msgs_per_s 2782 msgs/s ratio=1.05 baseline=direct_extraction
//	jobs_duplicate_effects 0 count
//
// The ratio is distinct jobs per second through the adapter over the same
// extraction called directly at the same concurrency. Run it with
// -benchtime=1x.
func BenchmarkJobsBudget(b *testing.B) {
	n, rounds := envInt("BENCH_JOBS", 2000), envInt("BENCH_COUNT", 5)
	var msgs, jobs, bare []float64
	dups := 0
	for range rounds {
		r := measureAdapter(b, n)
		msgs, jobs = append(msgs, r.msgsPerS), append(jobs, r.jobsPerS)
		dups += r.duplicates
		bare = append(bare, measureBare(b, n))
	}
	fmt.Printf("jobs_msgs_per_s %.0f msgs/s ratio=%.2f baseline=direct_extraction\n", median(msgs), median(jobs)/median(bare))
	fmt.Printf("jobs_duplicate_effects %d count\n", dups)
	fmt.Printf("jobs_distinct_per_s %.0f jobs/s ratio=%.2f baseline=direct_extraction\n", median(jobs), median(jobs)/median(bare))
	fmt.Printf("jobs_direct_extraction %.0f jobs/s\n", median(bare))
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

type adapterResult struct {
	msgsPerS, jobsPerS float64
	duplicates         int
}

// measureAdapter runs n emails through the worker adapter, every batch
// delivered twice, on a database of its own.
func measureAdapter(tb testing.TB, n int) adapterResult {
	pool := testkit.DB(tb)
	mem := queue.NewMemory(queue.MemoryOptions{})
	m := seed(tb, pool, n, benchPeople)
	enqueueAll(tb, queue.New(pool, mem, nil), m)
	w := contactextraction.Worker(worker.Deps{DB: pool, Backend: mem}, email.WithIgnore())
	fn := w.Function()
	var batches []events.SQSEvent
	for {
		ds, err := mem.Receive(context.Background(), fn.Name, fn.BatchSize, 0)
		if err != nil {
			tb.Fatal(err)
		}
		if len(ds) == 0 {
			break
		}
		batches = append(batches, worker.Event(fn.Name, ds))
	}
	var failed atomic.Int64
	handle := func(i int) {
		res, err := w.Handle(context.Background(), batches[i])
		if err != nil {
			tb.Error(err)
		}
		failed.Add(int64(len(res.BatchItemFailures)))
	}

	start := time.Now()
	run(len(batches), handle)
	run(len(batches), handle) // every message again
	elapsed := time.Since(start)

	if n := failed.Load(); n != 0 {
		tb.Errorf("%d batch item failures", n)
	}
	var done int
	if err := pool.QueryRow(context.Background(), `select count(*) from jobs where kind = $1 and state = 'succeeded'`, catalog.ContactExtraction).Scan(&done); err != nil || done != n {
		tb.Errorf("%d of %d jobs succeeded: %v", done, n, err)
	}
	return adapterResult{
		msgsPerS:   float64(2*n) / elapsed.Seconds(),
		jobsPerS:   float64(n) / elapsed.Seconds(),
		duplicates: duplicateEffects(tb, pool, m),
	}
}

// measureBare is the baseline: the same domain work for each email called
// directly, once, with no queue, claim or outcome, as many at once as the
// adapter runs (each invocation runs perBatch messages of its batch at
// once). It returns jobs per second.
func measureBare(tb testing.TB, n int) float64 {
	pool := testkit.DB(tb)
	m := seed(tb, pool, n, benchPeople)
	policy := email.WithIgnore()
	emails, contacts := email.NewService(pool), contact.NewService(pool)
	start := time.Now()
	runN(n, benchInvocations*perBatch, func(i int) {
		extractDirectly(tb, pool, emails, contacts, policy, m, i)
	})
	elapsed := time.Since(start)
	if d := duplicateEffects(tb, pool, m); d != 0 {
		tb.Errorf("baseline is off by %d", d)
	}
	return float64(n) / elapsed.Seconds()
}

// perBatch is how many messages of a batch the worker runs at once.
const perBatch = worker.DefaultConcurrency

// run calls f(0..n-1), benchInvocations at a time.
func run(n int, f func(i int)) { runN(n, benchInvocations, f) }

// runN calls f(0..n-1), parallel at a time.
func runN(n, parallel int, f func(i int)) {
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}

func extractDirectly(b testing.TB, _ *db.Pool, emails *email.Service, contacts *contact.Service, policy email.Policy, m mailbox, i int) {
	ctx := context.Background()
	ex, err := emails.Participants(ctx, m.user, m.emails[i], policy)
	if err != nil {
		b.Error(err)
		return
	}
	in := contact.Interaction{EmailID: m.emails[i], At: ex.Email.At()}
	for _, p := range ex.Participants {
		in.Participants = append(in.Participants, contact.Participant{Email: p.Email, Name: p.Name, Role: p.Role})
	}
	if _, err := contacts.RecordInteraction(ctx, m.user, in); err != nil {
		b.Error(err)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
