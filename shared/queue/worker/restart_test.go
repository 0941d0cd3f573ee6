package worker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/db/migrate"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/worker"
	"github.com/personalcrm/core/shared/testkit"
)

// TestOutcomeRecordedThroughARestart: a job whose handler finishes while
// the database is down (a restart, a failover) has its outcome recorded
// once the database is back, within the same invocation, instead of
// staying running until its lease lapses.
func TestOutcomeRecordedThroughARestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and restarts a PostgreSQL server of its own")
	}
	t.Parallel()
	pg := testkit.StartPostgres(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, "create database crm")
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Up(ctx, pg.URL("crm"), nil); err != nil {
		t.Fatal(err)
	}
	pool, err := db.Open(ctx, pg.URL("crm"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	clock := testkit.NewClock(time.Now())
	mem := queue.NewMemory(queue.MemoryOptions{Now: clock.Now})
	f := &fixture{pool: pool, b: mem, mem: mem, clock: clock, q: queue.New(pool, mem, nil),
		fn: catalog.MustLookup(catalog.ContactExtraction), calls: &calls{n: map[uuid.UUID]int{}}}
	f.user, _ = testkit.User(t, pool, "restart@example.com")

	for _, tt := range []struct {
		name string
		err  error
		want queue.State
	}{
		// Success first: the failed attempt's message comes back at once.
		{"success", nil, queue.Succeeded},
		{"failed attempt", errors.New("boom"), queue.Failed},
	} {
		up := make(chan struct{})
		w := f.worker(func(queue.Job) error {
			// The database goes down as the handler ends, and is back a
			// second later.
			if err := pg.Stop(); err != nil {
				t.Error(err)
			}
			go func() {
				defer close(up)
				time.Sleep(time.Second)
				if err := pg.Start(); err != nil {
					t.Error(err)
				}
			}()
			return tt.err
		})
		jobs := f.enqueue(t, 1)
		if _, err := w.Handle(ctx, worker.Event(f.fn.Name, f.receive(t))); err != nil {
			t.Fatal(err)
		}
		<-up
		if got := f.job(t, jobs[0].ID); got.State != tt.want || got.LockedUntil != nil {
			t.Errorf("%s: job %s, locked until %v; want %s", tt.name, got.State, got.LockedUntil, tt.want)
		}
	}
}
