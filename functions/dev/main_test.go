package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/testkit"
)

// freshDatabaseURL names a database that does not exist yet on the test
// server, and drops it when the test ends.
func freshDatabaseURL(t *testing.T) string {
	u, err := url.Parse(testkit.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("crm_dev_test_%d", time.Now().UnixNano())
	u.Path = "/" + name
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), testkit.ServerURL())
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		conn.Exec(context.Background(), "drop database if exists "+name+" with (force)")
	})
	return u.String()
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestRun starts the local server on a database it must create, uses it
// over TCP, and stops it as SIGINT would.
func TestRun(t *testing.T) {
	port := freePort(t)
	t.Setenv("DATABASE_URL", freshDatabaseURL(t))
	t.Setenv("PORT", fmt.Sprint(port))
	t.Setenv("APP_ENV", "development")
	t.Setenv("LOG_LEVEL", "warn")

	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, &out) }()

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var res *http.Response
	var err error
	for i := 0; i < 100; i++ {
		if res, err = http.Get(base + "/health"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		cancel()
		t.Fatalf("server never answered: %v (%v)", err, <-done)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("health %d", res.StatusCode)
	}

	res, err = http.Post(base+"/auth/dev-login", "application/json", strings.NewReader(`{"email":"dev@example.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	var login struct{ Token string }
	json.NewDecoder(res.Body).Decode(&login)
	res.Body.Close()
	if res.StatusCode != 200 || login.Token == "" {
		t.Fatalf("dev-login: %d", res.StatusCode)
	}

	req, _ := http.NewRequest("POST", base+"/v1/contacts", strings.NewReader(`{"name":"Local"}`))
	req.Header.Set("Authorization", "Bearer "+login.Token)
	req.Header.Set("Content-Type", "application/json")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("create contact: %d", res.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not shut down")
	}
	if !strings.Contains(out.String(), fmt.Sprintf("http://localhost:%d", port)) {
		t.Errorf("URL not printed: %q", out.String())
	}
}

func TestNoDatabaseSaysWhatToDo(t *testing.T) {
	cfg, err := config.Load(context.Background(), function, config.WithEnv(map[string]string{
		"DATABASE_URL": "postgres://someone:pw-123@127.0.0.1:1/crm_dev?sslmode=disable&connect_timeout=2",
	}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = setup(context.Background(), cfg, logging.Discard())
	if err == nil {
		t.Fatal("setup without a database succeeded")
	}
	for _, want := range []string{"cannot reach PostgreSQL", "127.0.0.1:1", "DATABASE_URL=", "pg_ctlcluster"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "pw-123") {
		t.Errorf("message shows the password:\n%v", err)
	}
}

func TestDevLoginRejectsBadInput(t *testing.T) {
	cfg, err := config.Load(context.Background(), function, config.WithEnv(map[string]string{"DATABASE_URL": freshDatabaseURL(t)}))
	if err != nil {
		t.Fatal(err)
	}
	s, err := setup(context.Background(), cfg, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer s.pool.Close()
	for _, body := range []string{`{"email":"nope"}`, `{`, `{"email":"a@b.c","admin":true}`} {
		req, _ := http.NewRequest("POST", "/auth/dev-login", strings.NewReader(body))
		req.Host = "localhost:3000"
		rec := &recorder{header: http.Header{}}
		s.handler.ServeHTTP(rec, req)
		if rec.status != 400 || !strings.Contains(rec.body.String(), "VALIDATION_ERROR") {
			t.Errorf("%s: %d %s", body, rec.status, rec.body.String())
		}
	}
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(c int) { r.status = c }
