package db_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/testkit"
)

// terminator ends every other session of the test's database, as a
// restart or failover of the server does (SQLSTATE 57P01), and waits for
// them to end.
func terminator(t *testing.T, url string) func() {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return func() {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, `select count(*) filter (where pg_terminate_backend(pid, 5000))
			from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatal("no session terminated: the test proves nothing")
		}
	}
}

// terminable opens a pool on a database of the test's own, as its owner
// (the test makes a table and ends other sessions), makes the table with
// create, and returns the pool and what terminates its sessions.
func terminable(t *testing.T, create string) (*db.Pool, func()) {
	t.Helper()
	url := testkit.NewDatabase(t).OwnerURL
	pool, err := db.Open(context.Background(), url, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(context.Background(), create); err != nil {
		t.Fatal(err)
	}
	return pool, terminator(t, url)
}

// TestPoolSurvivesTerminatedSessions: after every pooled connection was
// terminated, reads, a write and a transaction on the pool succeed.
func TestPoolSurvivesTerminatedSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, terminate := terminable(t, "create table t (n int primary key)")

	// Idle connections, each of them ended by the server.
	fill := func() {
		t.Helper()
		var conns []*pgxpool.Conn
		for range 4 {
			c, err := pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			c.Release()
		}
		terminate()
	}

	fill()
	var n int
	if err := pool.QueryRow(ctx, "select count(*) from t").Scan(&n); err != nil {
		t.Fatalf("a read after the sessions ended: %v", err)
	}
	fill()
	rows, err := pool.Query(ctx, "select n from t")
	if err != nil {
		t.Fatalf("a query after the sessions ended: %v", err)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		t.Fatalf("a query after the sessions ended: %v", err)
	}
	fill()
	if _, err := pool.Exec(ctx, "insert into t values (1)"); err != nil {
		t.Fatalf("a write after the sessions ended: %v", err)
	}
	fill()
	if err := db.InTx(ctx, pool, func(tx db.Tx) error {
		_, err := tx.Exec(ctx, "insert into t values (2)")
		return err
	}); err != nil {
		t.Fatalf("a transaction after the sessions ended: %v", err)
	}
	if err := pool.QueryRow(ctx, "select count(*) from t").Scan(&n); err != nil {
		t.Fatalf("count rows: %v", err)
	}
	if n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}
}

// TestInTxRunsTheWholeTransactionAgain: a transaction whose session is
// terminated halfway runs again from its start on a fresh connection,
// and its writes are stored once.
func TestInTxRunsTheWholeTransactionAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, terminate := terminable(t, "create table t (n int)")

	runs := 0
	err := db.InTx(ctx, pool, func(tx db.Tx) error {
		runs++
		if _, err := tx.Exec(ctx, "insert into t values (1)"); err != nil {
			return err
		}
		if runs == 1 {
			terminate()
		}
		_, err := tx.Exec(ctx, "insert into t values (2)")
		return err
	})
	if err != nil {
		t.Fatalf("InTx: %v", err)
	}
	if runs != 2 {
		t.Errorf("the transaction ran %d times, want 2", runs)
	}
	var got []int
	rows, _ := pool.Query(ctx, "select n from t order by n")
	got, err = pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatalf("collect rows: %v", err)
	}
	if diff := cmp.Diff([]int{1, 2}, got); diff != "" {
		t.Fatalf("rows (-want +got):\n%s", diff)
	}
}

// TestPoolSurvivesIdleSessionTimeout: a connection the server ended for
// sitting idle (idle_session_timeout, as an instance reached without a
// proxy does to frozen Lambda environments) is dropped, and the next
// statement runs on a fresh one.
func TestPoolSurvivesIdleSessionTimeout(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := url.Parse(testkit.NewDatabase(t).OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	watcher, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close(context.Background())
	q := u.Query()
	q.Set("idle_session_timeout", "50") // ms, for the pool's sessions only
	u.RawQuery = q.Encode()
	pool, err := db.Open(ctx, u.String(), db.Options{Mode: db.Lambda})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	var first int
	if err := pool.QueryRow(ctx, "select pg_backend_pid()").Scan(&first); err != nil {
		t.Fatal(err)
	}
	// Wait for the server to end the idle session.
	for {
		var gone bool
		if err := watcher.QueryRow(ctx, "select not exists (select from pg_stat_activity where pid = $1)", first).Scan(&gone); err != nil {
			t.Fatalf("waiting for the idle session to end: %v", err)
		}
		if gone {
			break
		}
	}
	var second int
	if err := pool.QueryRow(ctx, "select pg_backend_pid()").Scan(&second); err != nil {
		t.Fatalf("after the idle session ended: %v", err)
	}
	if second == first {
		t.Fatalf("backend %d answered after it ended", second)
	}
}
