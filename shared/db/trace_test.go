package db_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/monitor"
	"github.com/personalcrm/core/shared/testkit"
)

// TestStatementsTallied: every statement run with a tally in its context,
// in a transaction or a batch too, adds to it.
func TestStatementsTallied(t *testing.T) {
	pool := testkit.DB(t)
	ctx, tally := monitor.WithTally(context.Background())

	if _, err := pool.Exec(ctx, `select 1`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `select count(*) from pg_sleep(0.01)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, `select generate_series(1, 3)`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
	}
	rows.Close()
	tx, err := pool.Begin(ctx) // begin
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `select 1`); err != nil {
		t.Fatal(err)
	}
	b := &pgx.Batch{}
	b.Queue(`select 1`)
	b.Queue(`select 2`)
	if err := tx.SendBatch(ctx, b).Close(); err != nil { // one batch
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil { // commit
		t.Fatal(err)
	}

	calls, d := tally.Total()
	if calls != 7 {
		t.Errorf("calls = %d; want 7 (exec, query row, query, begin, exec, batch, commit)", calls)
	}
	if d.Seconds() < 0.01 {
		t.Errorf("time = %v; want at least the 10ms slept", d)
	}

	// Without a tally nothing is counted, and nothing fails.
	if _, err := pool.Exec(context.Background(), `select 1`); err != nil {
		t.Fatal(err)
	}
	if again, _ := tally.Total(); again != calls {
		t.Errorf("a statement without the tally counted: %d", again)
	}
}
