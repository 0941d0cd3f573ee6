package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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
	templateMu    sync.Mutex
	templateName  string
	templateReady bool
)

// testTemplate returns the name of the template database, preparing it on
// first use, or again when fresh is set (another checkout on the same
// server dropped it).
func testTemplate(ctx context.Context, fresh bool) (string, error) {
	templateMu.Lock()
	defer templateMu.Unlock()
	if templateReady && !fresh {
		return templateName, nil
	}
	name, err := ensureTemplate(ctx)
	templateName, templateReady = name, err == nil
	return name, err
}

// Database is a test's own migrated database, dropped when the test ends.
// Like every deployment it has two roles: the schema's owner, which
// migrates, and the runtime role (config.DatabaseAppRole) every function but
// migrate connects as, which may read and write the tables and nothing else.
type Database struct {
	// URL connects as the runtime role, as the functions do.
	URL string
	// OwnerURL connects as the schema's owner (the server's user), as
	// migrate does: for tests that change the schema or read goose's table.
	OwnerURL string
}

// NewDatabase creates a new, migrated database for this test; it is
// dropped when the test ends. Each call takes about as long as copying a
// small template (tens of milliseconds), so tests can each have their own
// and run in parallel.
func NewDatabase(t testing.TB) Database {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tpl, err := testTemplate(ctx, false)
	if err != nil {
		t.Fatalf("testkit: prepare template database on %s: %v\n(start PostgreSQL or set TEST_DATABASE_URL)", redactURL(ServerURL()), err)
	}
	name := "crm_t_" + randomHex(6)
	admin := connectServer(t, ctx)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, fmt.Sprintf("create database %s template %s", name, tpl))
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "3D000" /* invalid_catalog_name */ {
		// The template is gone: a test run of another schema version on
		// this server took it for stale. Prepare it again.
		if tpl, err = testTemplate(ctx, true); err == nil {
			_, err = admin.Exec(ctx, fmt.Sprintf("create database %s template %s", name, tpl))
		}
	}
	if err != nil {
		t.Fatalf("testkit: create test database: %v", err)
	}
	// A copy has the template's tables and grants, not its database-wide
	// privileges.
	for _, stmt := range migrate.DatabaseGrants(name) {
		if _, err := admin.Exec(ctx, stmt); err != nil {
			t.Fatalf("testkit: %s: %v", stmt, err)
		}
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
	owner := withDatabase(ServerURL(), name)
	app, err := migrate.LocalAppURL(owner)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	return Database{URL: app, OwnerURL: owner}
}

// DatabaseURL creates a new, migrated database for this test (NewDatabase)
// and returns its URL for the runtime role, as the functions connect.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	return NewDatabase(t).URL
}

// DB returns a pool, as the runtime role, on a new, migrated database of
// this test's own, closed and dropped when the test ends.
func DB(t testing.TB) *db.Pool {
	t.Helper()
	return NewDatabase(t).Pool(t)
}

// Pool opens a pool on d as the runtime role, closed when the test ends.
func (d Database) Pool(t testing.TB) *db.Pool {
	t.Helper()
	return openPool(t, d.URL)
}

// OwnerPool opens a pool on d as the schema's owner, closed when the test
// ends.
func (d Database) OwnerPool(t testing.TB) *db.Pool {
	t.Helper()
	return openPool(t, d.OwnerURL)
}

func openPool(t testing.TB, url string) *db.Pool {
	t.Helper()
	pool, err := db.Open(context.Background(), url, db.Options{Mode: db.Local})
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
// migrated database that test databases are copied from, with the runtime
// role's grants (a role belongs to the server; its grants to each database,
// and are copied with it).
func ensureTemplate(ctx context.Context) (string, error) {
	sum, err := migrate.Fingerprint()
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
	if err != nil {
		return "", err
	}
	// The comment says when the template was last used, so that runs of
	// other schema versions on this server leave it alone meanwhile.
	defer conn.Exec(context.Background(), "comment on database "+name+" is "+templateComment(time.Now()))
	if ready {
		return name, nil
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

// templateUnused is how long a template of another schema version must
// have gone unused before a test run drops it: other checkouts on the same
// server (a branch with a new migration) may be testing with it now.
const templateUnused = 24 * time.Hour

const templateCommentPrefix = "crm test template, last used "

func templateComment(at time.Time) string {
	return "'" + templateCommentPrefix + at.UTC().Format(time.RFC3339) + "'"
}

// dropStaleTemplates removes the templates of other schema versions that
// have not been used for templateUnused, so they do not pile up on a
// developer's server. One still being copied cannot be dropped; it goes
// next time.
func dropStaleTemplates(ctx context.Context, conn *pgx.Conn, current string) {
	rows, err := conn.Query(ctx, `select d.datname, coalesce(shobj_description(d.oid, 'pg_database'), '')
		from pg_database d where d.datistemplate and d.datname like 'crm\_tpl\_%' and d.datname <> $1`, current)
	if err != nil {
		return
	}
	type tpl struct {
		Name, Comment string
	}
	all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[tpl])
	if err != nil {
		return
	}
	var names []string
	for _, t := range all {
		used, err := time.Parse(time.RFC3339, strings.TrimPrefix(t.Comment, templateCommentPrefix))
		if err != nil || time.Since(used) > templateUnused {
			names = append(names, t.Name)
		}
	}
	for _, n := range names {
		ident := pgx.Identifier{n}.Sanitize()
		if _, err := conn.Exec(ctx, "alter database "+ident+" is_template false"); err == nil {
			conn.Exec(ctx, "drop database if exists "+ident)
		}
	}
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

// TerminateSessions ends every session of pool's database but its own,
// as a restart or failover of the server does (SQLSTATE 57P01), and
// fails the test when there was none to end. The pool's connections are
// dead afterwards, and it does not know yet.
func TerminateSessions(t testing.TB, pool *db.Pool) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	if err != nil {
		t.Fatalf("testkit: connect: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `select count(*) filter (where pg_terminate_backend(pid, 5000))
		from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`).Scan(&n); err != nil {
		t.Fatalf("testkit: terminate sessions: %v", err)
	}
	if n == 0 {
		t.Fatal("testkit: no session to terminate: the test proves nothing")
	}
}
