package testkit

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/db/migrate"
)

// DefaultDatabaseURL is the server tests use when TEST_DATABASE_URL is unset:
// the local PostgreSQL as its superuser, which may create databases.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL is the PostgreSQL server tests create their databases on.
func ServerURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultDatabaseURL
}

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// DatabaseURL creates a new, migrated database for this test and returns
// its URL; the database is dropped when the test ends. Each call takes
// about as long as copying a small template (tens of milliseconds), so
// tests can each have their own and run in parallel.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	templateOnce.Do(func() { templateName, templateErr = ensureTemplate(ctx) })
	if templateErr != nil {
		t.Fatalf("testkit: prepare template database on %s: %v\n(start PostgreSQL or set TEST_DATABASE_URL)", redactURL(ServerURL()), templateErr)
	}
	name := "crm_t_" + randomHex(6)
	admin := connectServer(t, ctx)
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, fmt.Sprintf("create database %s template %s", name, templateName)); err != nil {
		t.Fatalf("testkit: create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, ServerURL())
		if err != nil {
			t.Logf("testkit: drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "drop database if exists "+name+" with (force)"); err != nil {
			t.Logf("testkit: drop %s: %v", name, err)
		}
	})
	return withDatabase(ServerURL(), name)
}

// DB returns a pool on a new, migrated database of this test's own,
// closed and dropped when the test ends.
func DB(t testing.TB) *db.Pool {
	t.Helper()
	pool, err := db.Open(context.Background(), DatabaseURL(t), db.Options{Mode: db.Local})
	if err != nil {
		t.Fatalf("testkit: open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func connectServer(t testing.TB, ctx context.Context) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		t.Fatalf("testkit: connect to PostgreSQL at %s: %v\n(start PostgreSQL or set TEST_DATABASE_URL)", redactURL(ServerURL()), err)
	}
	return conn
}

// ensureTemplate creates (once per schema version, across processes) a
// migrated database that test databases are copied from.
func ensureTemplate(ctx context.Context) (string, error) {
	sum, err := migrationsHash()
	if err != nil {
		return "", err
	}
	name := "crm_tpl_" + sum[:12]
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	// Serialise template creation among concurrent test processes.
	if _, err := conn.Exec(ctx, "select pg_advisory_lock(727274)"); err != nil {
		return "", err
	}
	defer conn.Exec(context.Background(), "select pg_advisory_unlock(727274)")

	var ready bool
	err = conn.QueryRow(ctx, "select exists (select 1 from pg_database where datname = $1 and datistemplate)", name).Scan(&ready)
	if err != nil || ready {
		return name, err
	}
	if _, err := conn.Exec(ctx, "drop database if exists "+name+" with (force)"); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "create database "+name); err != nil {
		return "", err
	}
	if _, err := migrate.Up(ctx, withDatabase(ServerURL(), name), nil); err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	if _, err := conn.Exec(ctx, "alter database "+name+" with is_template true allow_connections false"); err != nil {
		return "", err
	}
	dropStaleTemplates(ctx, conn, name)
	return name, nil
}

// dropStaleTemplates removes the templates of earlier schema versions, so
// they do not pile up on a developer's server. One still being copied
// cannot be dropped; it goes next time.
func dropStaleTemplates(ctx context.Context, conn *pgx.Conn, current string) {
	rows, err := conn.Query(ctx, `select datname from pg_database where datistemplate and datname like 'crm\_tpl\_%' and datname <> $1`, current)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		ident := pgx.Identifier{n}.Sanitize()
		if _, err := conn.Exec(ctx, "alter database "+ident+" is_template false"); err == nil {
			conn.Exec(ctx, "drop database if exists "+ident)
		}
	}
}

func migrationsHash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(db.Migrations, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := db.Migrations.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + name
	return u.String()
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
