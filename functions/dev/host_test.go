package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/logging"
)

// TestListensOnLoopbackByDefault: without HOST the local server's socket
// is on the loopback address only, so others on the network cannot
// reach it; HOST opens it up when someone means to.
func TestListensOnLoopbackByDefault(t *testing.T) {
	load := func(vars map[string]string) *config.Config {
		vars["PORT"] = fmt.Sprint(freePort(t))
		cfg, err := config.Load(context.Background(), function, config.WithEnv(vars))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	ln, err := listen(load(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close()
	if !addr.IP.IsLoopback() {
		t.Fatalf("listens on %s by default, want a loopback address", addr)
	}
	ln, err = listen(load(map[string]string{"HOST": "0.0.0.0"}))
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().(*net.TCPAddr)
	ln.Close()
	if !addr.IP.IsUnspecified() {
		t.Fatalf("listens on %s with HOST=0.0.0.0", addr)
	}
}

// TestRefusesForeignHost: a request addressed to another site's name (a
// page that pointed its name at 127.0.0.1: DNS rebinding) is refused,
// signed in or not; loopback names and AUTH_URL's host are served.
func TestRefusesForeignHost(t *testing.T) {
	t.Parallel()
	_, base, _ := devServer(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	res, err := http.Post(base+"/auth/dev-login", "application/json", strings.NewReader(`{"email":"ada@example.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("dev-login on 127.0.0.1: %d", res.StatusCode)
	}
	send := func(method, path, host, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Host = host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, host := range []string{"evil.example:" + port, "evil.example", "localhost.evil.example:" + port, "127.0.0.1.evil.example", "10.0.0.5:" + port} {
		for _, r := range []struct{ method, path, body string }{
			{"POST", "/auth/dev-login", `{"email":"ada@example.com"}`},
			{"GET", "/v1/user", ""},
			{"GET", "/sandbox/google/gmail/v1/users/me/messages", ""},
		} {
			code, body := send(r.method, r.path, host, r.body)
			if code != http.StatusForbidden || !strings.Contains(body, `"FORBIDDEN"`) || strings.Contains(body, "token") {
				t.Errorf("%s %s with Host %s: %d %s, want 403 FORBIDDEN", r.method, r.path, host, code, body)
			}
		}
	}
	for _, host := range []string{"localhost:" + port, "LOCALHOST", "127.0.0.1:" + port, "127.0.0.2", "[::1]:" + port} {
		if code, body := send("GET", "/health", host, ""); code != http.StatusOK {
			t.Errorf("GET /health with Host %s: %d %s", host, code, body)
		}
	}
}

// TestAuthURLHostServed: the host of a configured AUTH_URL is served too
// (a developer who reaches the server by another name says so there).
func TestAuthURLHostServed(t *testing.T) {
	cfg, err := config.Load(context.Background(), function, config.WithEnv(map[string]string{"AUTH_URL": "http://crm.test:3000"}))
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{"crm.test:3000": true, "CRM.test": true, "crm.test.": true, "crm.test.evil.example": false, "evil.example": false, "": false} {
		if got := allowedHost(host, cfg.AuthURL.Hostname()); got != want {
			t.Errorf("allowedHost(%q) = %v, want %v", host, got, want)
		}
	}
}

// TestDevLoginOnlyWithSandboxGoogle: with real Google credentials the
// local server has no password-less sign-in, and does not offer one.
func TestDevLoginOnlyWithSandboxGoogle(t *testing.T) {
	cfg, err := config.Load(context.Background(), function, config.WithEnv(map[string]string{
		"DATABASE_URL":         freshDatabaseURL(t),
		"GOOGLE_CLIENT_ID":     "1234-real.apps.googleusercontent.com",
		"GOOGLE_CLIENT_SECRET": "a-real-looking-client-secret",
	}))
	if err != nil {
		t.Fatal(err)
	}
	s, err := setup(context.Background(), cfg, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer s.pool.Close()
	if s.sandbox != nil {
		t.Fatal("a sandbox Google alongside the real one")
	}
	req, _ := http.NewRequest("POST", "/auth/dev-login", strings.NewReader(`{"email":"ada@example.com"}`))
	req.Host = "localhost:3000"
	rec := &recorder{header: http.Header{}}
	s.handler.ServeHTTP(rec, req)
	if rec.status == http.StatusOK || strings.Contains(rec.body.String(), "token") {
		t.Fatalf("dev-login with the real Google: %d %s", rec.status, rec.body.String())
	}
	var count int
	s.pool.QueryRow(context.Background(), `select count(*) from users`).Scan(&count)
	if count != 0 {
		t.Fatalf("%d users after a refused dev-login", count)
	}
}
