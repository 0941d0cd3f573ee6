package testkit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/personalcrm/core/shared/testkit"
)

// TestPostgresRestart: a server of the test's own answers, a restart
// terminates its sessions as an operator's fast restart does, and it
// answers again afterwards on the same URL.
func TestPostgresRestart(t *testing.T) {
	t.Parallel()
	pg := testkit.StartPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "create table t (n int)"); err != nil {
		t.Fatal(err)
	}

	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, "insert into t values (1)")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57P01" {
		t.Fatalf("a session across the restart: %v, want SQLSTATE 57P01", err)
	}
	again, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	defer again.Close(context.Background())
	var n int
	if err := again.QueryRow(ctx, "select count(*) from t").Scan(&n); err != nil || n != 0 {
		t.Fatalf("after the restart: %d rows, %v", n, err)
	}
}
