package testkit

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// PostgresServer is a PostgreSQL server of a test's own: a cluster in a
// temporary directory, on a free loopback port, for tests that stop or
// restart the database (the shared test server must never be). It is
// stopped and its directory removed when the test ends.
type PostgresServer struct {
	t    testing.TB
	bin  string // the directory of initdb, pg_ctl and postgres
	dir  string
	data string
	port int
	// owner runs the server's programs when the test runs as root, which
	// initdb and postgres refuse to be.
	owner *user.User
}

// StartPostgres initialises a cluster (superuser postgres, trust
// authentication, no fsync: nothing here must survive a crash of the
// machine) and starts it. It skips the test when the machine has no
// PostgreSQL server programs (POSTGRES_BIN, then PATH, then
// /usr/lib/postgresql/*/bin); as root it runs them as the OS user
// postgres, which the server packages create.
func StartPostgres(t testing.TB) *PostgresServer {
	t.Helper()
	bin, err := postgresBin()
	if err != nil {
		t.Skipf("testkit: %v", err)
	}
	s := &PostgresServer{t: t, bin: bin}
	if os.Geteuid() == 0 {
		if s.owner, err = user.Lookup("postgres"); err != nil {
			t.Fatalf("testkit: running as root, PostgreSQL must run as another user, and there is no OS user postgres: %v", err)
		}
	}
	// Not t.TempDir: its parent is private to root, and the server's user
	// must reach the cluster.
	if s.dir, err = os.MkdirTemp("", "crm-postgres-"); err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(s.dir) })
	if err := s.chown(s.dir); err != nil {
		t.Fatalf("testkit: %v", err)
	}
	s.data = filepath.Join(s.dir, "data")
	if out, err := s.run("initdb", "-D", s.data, "-U", "postgres", "--auth=trust", "--encoding=UTF8",
		"--locale=C", "--no-sync", "--no-instructions"); err != nil {
		t.Fatalf("testkit: initdb: %v\n%s", err, out)
	}
	t.Cleanup(s.stop)
	for attempt := 0; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			t.Fatalf("testkit: find a free port: %v", err)
		}
		conf := fmt.Sprintf("\nport = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n"+
			"fsync = off\nfull_page_writes = off\nsynchronous_commit = off\nmax_connections = 50\n",
			s.port, s.dir)
		if err := os.WriteFile(filepath.Join(s.data, "postgresql.auto.conf"), []byte(conf), 0o600); err != nil {
			t.Fatalf("testkit: %v", err)
		}
		out, err := s.ctl("start")
		if err == nil {
			return s
		}
		if attempt == 2 {
			t.Fatalf("testkit: start PostgreSQL: %v\n%s", err, out)
		}
	}
}

// URL is the URL of database on the server, as its superuser.
func (s *PostgresServer) URL(database string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: "127.0.0.1:" + strconv.Itoa(s.port),
		Path: "/" + database, RawQuery: "sslmode=disable"}
	return u.String()
}

// Restart stops the server as an operator's `pg_ctl restart -m fast`
// does (every session is terminated with SQLSTATE 57P01 and its open
// transaction rolled back), and starts it again on the same port. It
// returns once the server accepts connections. Unlike the other helpers
// it returns its error, so that it can run beside the test's goroutine.
func (s *PostgresServer) Restart() error {
	if out, err := s.ctl("restart", "-m", "fast"); err != nil {
		return fmt.Errorf("testkit: restart PostgreSQL: %w\n%s", err, out)
	}
	return nil
}

// Stop stops the server as Restart does, without starting it again.
func (s *PostgresServer) Stop() error {
	if out, err := s.ctl("stop", "-m", "fast"); err != nil {
		return fmt.Errorf("testkit: stop PostgreSQL: %w\n%s", err, out)
	}
	return nil
}

// Start starts a stopped server and returns once it accepts connections.
func (s *PostgresServer) Start() error {
	if out, err := s.ctl("start"); err != nil {
		return fmt.Errorf("testkit: start PostgreSQL: %w\n%s", err, out)
	}
	return nil
}

func (s *PostgresServer) stop() {
	if _, err := os.Stat(filepath.Join(s.data, "postmaster.pid")); err != nil {
		return
	}
	if out, err := s.ctl("stop", "-m", "immediate"); err != nil {
		s.t.Logf("testkit: stop PostgreSQL: %v\n%s", err, out)
	}
}

// ctl runs pg_ctl on the cluster, waiting for what it does to finish.
func (s *PostgresServer) ctl(args ...string) ([]byte, error) {
	out, err := s.run("pg_ctl", append([]string{"-D", s.data, "-l", filepath.Join(s.dir, "server.log"), "-w", "-t", "60"}, args...)...)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
		out = append(out, log...)
	}
	return out, err
}

func (s *PostgresServer) run(program string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(s.bin, program), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if s.owner != nil {
		if err := runAs(cmd, s.owner); err != nil {
			return nil, err
		}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

func (s *PostgresServer) chown(path string) error {
	if s.owner == nil {
		return nil
	}
	uid, err := strconv.Atoi(s.owner.Uid)
	if err != nil {
		return err
	}
	gid, err := strconv.Atoi(s.owner.Gid)
	if err != nil {
		return err
	}
	return os.Chown(path, uid, gid)
}

// postgresBin finds the directory of the PostgreSQL server programs.
func postgresBin() (string, error) {
	has := func(dir string) bool {
		for _, p := range []string{"initdb", "pg_ctl", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, p)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if d := os.Getenv("POSTGRES_BIN"); d != "" {
		if !has(d) {
			return "", fmt.Errorf("POSTGRES_BIN=%s has no initdb, pg_ctl and postgres", d)
		}
		return d, nil
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	// Debian and Ubuntu keep them off PATH, one directory per major
	// version: the newest wins.
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range append(dirs, "/usr/local/pgsql/bin", "/opt/homebrew/bin", "/usr/local/bin") {
		if has(d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("no PostgreSQL server programs (initdb, pg_ctl, postgres) on PATH or in /usr/lib/postgresql/*/bin; " +
		"install them (apt-get install postgresql) or set POSTGRES_BIN")
}
