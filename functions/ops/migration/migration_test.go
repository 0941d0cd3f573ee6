package migration

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db/migrate"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/testkit"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fast keeps the tests short; the retry rule is the same.
var fast = backoff{first: time.Millisecond, max: 4 * time.Millisecond}

// closedURL is a PostgreSQL URL nothing listens on: connecting fails as
// it does while a new RDS Proxy is not ready.
const closedURL = "postgres://crm@127.0.0.1:1/crm?sslmode=disable&connect_timeout=2"

func appFor(url string, hook func(context.Context, *pgx.ConnConfig) error) *platform.App {
	return &platform.App{Config: &config.Config{DatabaseURL: url}, Log: quiet, BeforeConnect: hook}
}

func TestUnreachableDatabaseIsRetriedUntilTheDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	attempts := 0
	_, err := untilReachable(ctx, quiet, fast, func(ctx context.Context) (migrate.Result, error) {
		attempts++
		return up(ctx, appFor(closedURL, nil))
	})
	if err == nil || !strings.Contains(err.Error(), "database unreachable after") {
		t.Fatalf("err = %v, want unreachable after attempts", err)
	}
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) {
		t.Errorf("err %v does not keep the connect error", err)
	}
	if attempts < 2 {
		t.Errorf("%d attempts, want retries", attempts)
	}
}

// The first connections fail, then the database answers: the migration
// runs and its result comes back.
func TestMigratesOnceTheDatabaseAnswers(t *testing.T) {
	// Migrate connects as the schema's owner, as deployed.
	url := testkit.NewDatabase(t).OwnerURL
	hooked := 0
	app := appFor(url, func(ctx context.Context, cc *pgx.ConnConfig) error { hooked++; return nil })
	attempts := 0
	res, err := untilReachable(context.Background(), quiet, fast, func(ctx context.Context) (migrate.Result, error) {
		attempts++
		if attempts < 3 {
			return up(ctx, appFor(closedURL, nil))
		}
		return up(ctx, app)
	})
	if err != nil {
		t.Fatal(err)
	}
	latest, _ := migrate.Latest()
	if attempts != 3 || res.Version != latest || hooked == 0 {
		t.Fatalf("attempts %d, version %d (want %d), hook ran %d times", attempts, res.Version, latest, hooked)
	}
}

// A failing migration (an error from a statement, not from connecting)
// fails at once: retrying would not fix it, and the deploy must fail.
func TestMigrationErrorIsNotRetried(t *testing.T) {
	pool := testkit.DB(t)
	_, stmtErr := pool.Exec(context.Background(), "alter table no_such_table add column x int")
	var pe *pgconn.PgError
	if !errors.As(stmtErr, &pe) {
		t.Fatalf("setup: %v", stmtErr)
	}
	attempts := 0
	_, err := untilReachable(context.Background(), quiet, fast, func(context.Context) (migrate.Result, error) {
		attempts++
		return migrate.Result{}, stmtErr
	})
	if attempts != 1 || !errors.Is(err, stmtErr) {
		t.Fatalf("attempts %d, err %v: want the migration's error at once", attempts, err)
	}
}

// Near the deadline no attempt starts: the reserve is kept for the
// migration itself.
func TestNoAttemptWithoutTimeToMigrate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	attempts := 0
	_, err := untilReachable(ctx, quiet, backoff{first: time.Millisecond, max: time.Millisecond, reserve: 2 * time.Minute},
		func(ctx context.Context) (migrate.Result, error) {
			attempts++
			return up(ctx, appFor(closedURL, nil))
		})
	if err == nil || attempts != 1 {
		t.Fatalf("attempts %d, err %v: want one attempt and an error", attempts, err)
	}
}

// With DATABASE_SECRET (dev, straight to the instance) every connection
// migrate makes signs in with the secret's password, and the migration
// runs.
func TestMigratesWithTheSecretsPassword(t *testing.T) {
	url := testkit.NewDatabase(t).OwnerURL
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	var passwords []string
	app := appFor(url, func(ctx context.Context, cc *pgx.ConnConfig) error {
		passwords = append(passwords, cc.Password)
		return nil
	})
	app.Config.DatabaseSecret = config.Secret(`{"username":"` + cc.User + `","password":"from-the-secret"}`)
	res, err := up(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	latest, _ := migrate.Latest()
	if res.Version != latest || len(passwords) == 0 {
		t.Fatalf("version %d (want %d), %d connections", res.Version, latest, len(passwords))
	}
	for _, p := range passwords {
		if p != "from-the-secret" {
			t.Fatalf("a connection signed in with %q, want the secret's password", p)
		}
	}

	app.Config.DatabaseSecret = "not json"
	if _, err := up(context.Background(), app); err == nil || !strings.Contains(err.Error(), "DATABASE_SECRET") {
		t.Fatalf("a malformed secret: %v", err)
	}
}
