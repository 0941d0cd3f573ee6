package workers_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/personalcrm/core/functions/workers"
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
		pool := testkit.DB(b)
		mem := queue.NewMemory(queue.MemoryOptions{})
		m := seed(b, pool, b.N, benchPeople)
		enqueueAll(b, queue.New(pool, mem, nil), m)
		w := workers.ContactExtraction(workers.Deps{DB: pool, Backend: mem, Extraction: email.WithIgnore()})
		fn := w.Function()
		var batches []events.SQSEvent
		for {
			ds, err := mem.Receive(context.Background(), fn.Name, fn.BatchSize, 0)
			if err != nil {
				b.Fatal(err)
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
				b.Error(err)
			}
			failed.Add(int64(len(res.BatchItemFailures)))
		}

		b.ResetTimer()
		start := time.Now()
		run(len(batches), handle)
		run(len(batches), handle) // every message again
		elapsed := time.Since(start)
		b.StopTimer()

		b.ReportMetric(float64(2*b.N)/elapsed.Seconds(), "msgs/s")
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
		b.ReportMetric(float64(duplicateEffects(b, pool, m)), "duplicate-effects")
		if n := failed.Load(); n != 0 {
			b.Errorf("%d batch item failures", n)
		}
		var done int
		if err := pool.QueryRow(context.Background(), `select count(*) from jobs where kind = $1 and state = 'succeeded'`, catalog.ContactExtraction).Scan(&done); err != nil || done != b.N {
			b.Errorf("%d of %d jobs succeeded: %v", done, b.N, err)
		}
	})

	b.Run("bare", func(b *testing.B) {
		pool := testkit.DB(b)
		m := seed(b, pool, b.N, benchPeople)
		policy := email.WithIgnore()
		emails, contacts := email.NewService(pool), contact.NewService(pool)
		b.ResetTimer()
		start := time.Now()
		// As many at once as the adapter runs: each invocation runs
		// Concurrency messages of its batch at once.
		runN(b.N, benchInvocations*perBatch, func(i int) {
			extractDirectly(b, pool, emails, contacts, policy, m, i)
		})
		elapsed := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
		if n := duplicateEffects(b, pool, m); n != 0 {
			b.Errorf("baseline is off by %d", n)
		}
	})
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

func extractDirectly(b *testing.B, _ *db.Pool, emails *email.Service, contacts *contact.Service, policy email.Policy, m mailbox, i int) {
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
