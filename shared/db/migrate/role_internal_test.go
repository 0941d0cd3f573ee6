package migrate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// serverURL is the test PostgreSQL (the test kit's, which this package
// cannot import: the test kit migrates with it).
func serverURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

func randomName(prefix string) string {
	b := make([]byte, 5)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// scratch creates n empty databases and a role name of the test's own, and
// drops them all when the test ends (the databases first: a role is
// dropped only once nothing grants it anything).
func scratch(t *testing.T, n int) (urls []string, role string) {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, serverURL())
	if err != nil {
		t.Fatalf("connect to the test PostgreSQL: %v", err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	role = randomName("crm_t_role_")
	var names []string
	t.Cleanup(func() {
		ctx := context.Background()
		for _, name := range names {
			admin.Exec(ctx, "drop database if exists "+name+" with (force)")
		}
		admin.Exec(ctx, "drop role if exists "+role)
	})
	for range n {
		name := randomName("crm_t_roles_")
		if _, err := admin.Exec(ctx, "create database "+name); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
		u, _ := url.Parse(serverURL())
		u.Path = "/" + name
		urls = append(urls, u.String())
	}
	return urls, role
}

func setupOn(ctx context.Context, rawURL string, r roles, password string) error {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return err
	}
	sqlDB := stdlib.OpenDB(*cfg)
	defer sqlDB.Close()
	if _, err := up(ctx, sqlDB, nil); err != nil {
		return err
	}
	return setupAppRole(ctx, sqlDB, r, password)
}

// Many processes migrate databases on one server at once (the tests do):
// the role, which belongs to the server, is created once and none of them
// fails, whether they share a database or not.
func TestRoleSetupIsSafeConcurrently(t *testing.T) {
	t.Parallel()
	urls, role := scratch(t, 3)
	r := roles{app: role, iam: randomName("crm_t_none_")}
	var wg sync.WaitGroup
	errs := make(chan error, 3*len(urls))
	for _, u := range urls {
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- setupOn(context.Background(), u, r, DevAppPassword)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent setup: %v", err)
		}
	}
	for _, u := range urls {
		conn := connectAs(t, u, role)
		if _, err := conn.Exec(context.Background(), "insert into users (id, email) values (gen_random_uuid(), 'x@example.com')"); err != nil {
			t.Errorf("%s cannot write users: %v", role, err)
		}
	}
}

func connectAs(t *testing.T, rawURL, role string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Password = role, DevAppPassword
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("connect as %s: %v", role, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// On RDS the runtime role joins rds_iam, so that it signs in with IAM
// tokens; elsewhere there is no such role and nothing is granted.
func TestIAMRoleGrantedWhereItExists(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	urls, role := scratch(t, 1)
	admin, err := pgx.Connect(ctx, serverURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)

	missing := roles{app: role, iam: randomName("crm_t_iam_")}
	if err := setupOn(ctx, urls[0], missing, ""); err != nil {
		t.Fatalf("setup without an IAM role on the server: %v", err)
	}
	iam := randomName("crm_t_iam_")
	if _, err := admin.Exec(ctx, "create role "+iam+" nologin"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "drop role if exists "+iam) })
	member := func() bool {
		var ok bool
		if err := admin.QueryRow(ctx, "select pg_has_role($1, $2, 'member')", role, iam).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if member() {
		t.Fatal("member of the IAM role before it existed")
	}
	withIAM := roles{app: role, iam: iam}
	for range 2 { // and again: nothing to do
		if err := setupOn(ctx, urls[0], withIAM, ""); err != nil {
			t.Fatalf("setup with an IAM role: %v", err)
		}
	}
	if !member() {
		t.Fatal("the runtime role did not join the IAM role")
	}
}

// A runtime role an operator made a superuser, or a member of another
// role, is refused: it could do more than the grants say.
func TestOverprivilegedRuntimeRoleIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	urls, role := scratch(t, 1)
	admin, err := pgx.Connect(ctx, serverURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	r := roles{app: role, iam: randomName("crm_t_none_")}
	if err := setupOn(ctx, urls[0], r, DevAppPassword); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ grant, undo, want string }{
		{"alter role " + role + " createrole", "alter role " + role + " nocreaterole", "createrole"},
		{"grant pg_write_all_data to " + role, "revoke pg_write_all_data from " + role, "member of pg_write_all_data"},
	} {
		if _, err := admin.Exec(ctx, tc.grant); err != nil {
			t.Fatal(err)
		}
		err := setupOn(ctx, urls[0], r, DevAppPassword)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("after %q: %v, want a refusal naming %q", tc.grant, err, tc.want)
		}
		if _, err := admin.Exec(ctx, tc.undo); err != nil {
			t.Fatal(err)
		}
	}
}
