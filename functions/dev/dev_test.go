package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/feature"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/testkit"
)

// devServer runs the local server's handler on a test server, with its
// own database and the built-in sandbox Google.
func devServer(t *testing.T) (*server, string, *testkit.Buffer) {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	cfg, err := config.Load(context.Background(), function, config.WithEnv(map[string]string{
		"APP_ENV": "test", "DATABASE_URL": testkit.NewDatabase(t).OwnerURL, "AUTH_URL": base, "AUTH_REDIRECT_URL": base + "/",
		"LOG_LEVEL": "debug", "FEATURE_AI_AGENTS": "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	logs := &testkit.Buffer{}
	s, err := setup(context.Background(), cfg, logging.New(logs, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.pool.Close)
	if s.sandbox == nil {
		t.Fatal("no sandbox Google without a Google client id")
	}
	ts.Config.Handler = s.handler
	ts.Start()
	t.Cleanup(ts.Close)
	return s, base, logs
}

// TestBrowserSignIn is the whole sign-in as a browser does it: login,
// the sandbox's consent page, the callback, landing signed in; then the
// API with the cookie and with the token as a Bearer; then logout.
func TestBrowserSignIn(t *testing.T) {
	t.Parallel()
	s, base, logs := devServer(t)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}

	page, err := browser.Get(base + "/auth/google/login")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(page.Request.URL.String(), base+"/sandbox/google/o/oauth2/v2/auth?") {
		t.Fatalf("login went to %s", page.Request.URL)
	}
	landed := testkit.Consent(t, browser, page, "ada@example.com", true)
	body, _ := io.ReadAll(landed.Body)
	landed.Body.Close()
	if landed.StatusCode != http.StatusOK || landed.Request.URL.String() != base+"/" || !strings.Contains(string(body), "Personal CRM") {
		t.Fatalf("landed on %s with %d", landed.Request.URL, landed.StatusCode)
	}
	u, _ := url.Parse(base)
	var token string
	for _, c := range jar.Cookies(u) {
		if c.Name == auth.CookieName {
			token = c.Value
		}
	}
	if token == "" {
		t.Fatalf("no session cookie after sign-in: %v", jar.Cookies(u))
	}

	me := func(c *http.Client, bearer string) (int, map[string]any) {
		r, _ := http.NewRequest("GET", base+"/v1/user", nil)
		if bearer != "" {
			r.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	if code, u := me(browser, ""); code != http.StatusOK || u["email"] != "ada@example.com" {
		t.Fatalf("GET /v1/user with the cookie: %d %v", code, u)
	}
	if code, u := me(http.DefaultClient, token); code != http.StatusOK || u["email"] != "ada@example.com" {
		t.Fatalf("GET /v1/user with the token as Bearer: %d %v", code, u)
	}

	// Feature flags: the environment gate is on, and the user's setting.
	var userID string
	s.pool.QueryRow(context.Background(), `select id::text from users`).Scan(&userID)
	feature.NewSettings(s.pool).WithCache(s.cache).Set(context.Background(), uuid.MustParse(userID), feature.AIAgents, true)
	res, err := browser.Get(base + "/v1/user/features")
	if err != nil {
		t.Fatal(err)
	}
	var flags struct {
		Features map[string]bool `json:"features"`
	}
	json.NewDecoder(res.Body).Decode(&flags)
	res.Body.Close()
	if !flags.Features["ai-agents"] || flags.Features["enrichment"] {
		t.Fatalf("features %v", flags.Features)
	}

	scanForSecrets(t, s.pool, append(s.sandbox.Issued(), token))

	r, _ := http.NewRequest("POST", base+"/auth/logout", nil)
	r.Header.Set("Origin", base)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err = browser.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	if code, _ := me(browser, ""); code != http.StatusUnauthorized {
		t.Fatalf("after logout, with the browser: %d", code)
	}
	if code, _ := me(http.DefaultClient, token); code != http.StatusUnauthorized {
		t.Fatalf("after logout, with the token: %d", code)
	}

	for _, secret := range append(s.sandbox.Issued(), token) {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("a token reached the log:\n%s", logs.String())
		}
	}

	// The local server's token route still works.
	res, err = http.Post(base+"/auth/dev-login", "application/json", strings.NewReader(`{"email":"dev@example.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	var dev struct{ Token string }
	json.NewDecoder(res.Body).Decode(&dev)
	res.Body.Close()
	if code, u := me(http.DefaultClient, dev.Token); code != http.StatusOK || u["email"] != "dev@example.com" {
		t.Fatalf("dev-login token: %d %v", code, u)
	}
}

// scanForSecrets fails when any column of any table holds one of secrets
// in plaintext: as text, or as bytes in a bytea column.
func scanForSecrets(t *testing.T, pool *db.Pool, secrets []string) {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `select table_schema, table_name, column_name, data_type from information_schema.columns
		where table_schema not in ('pg_catalog', 'information_schema')`)
	if err != nil {
		t.Fatal(err)
	}
	type column struct{ schema, table, name, typ string }
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (column, error) {
		var c column
		return c, r.Scan(&c.schema, &c.table, &c.name, &c.typ)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) < 20 {
		t.Fatalf("only %d columns found", len(cols))
	}
	if len(secrets) < 4 {
		t.Fatalf("only %d secrets to look for", len(secrets))
	}
	scanned := 0
	for _, c := range cols {
		ident := pgx.Identifier{c.schema, c.table}.Sanitize()
		col := pgx.Identifier{c.name}.Sanitize()
		for _, secret := range secrets {
			q := "select count(*) from " + ident + " where position($1 in " + col + "::text) > 0"
			arg := any(secret)
			if c.typ == "bytea" {
				q = "select count(*) from " + ident + " where position($1::bytea in " + col + ") > 0"
				arg = []byte(secret)
			}
			var n int
			if err := pool.QueryRow(ctx, q, arg).Scan(&n); err != nil {
				t.Fatalf("scan %s.%s: %v", c.table, c.name, err)
			}
			if n > 0 {
				t.Errorf("%s.%s holds a token in plaintext (%.12s...)", c.table, c.name, secret)
			}
			scanned++
		}
	}
	var sealed int
	pool.QueryRow(ctx, `select count(*) from accounts where access_token is not null and refresh_token is not null and id_token is not null`).Scan(&sealed)
	if sealed != 1 {
		t.Fatalf("%d accounts with all three tokens stored; the scan would prove nothing", sealed)
	}
}

// TestFlagCommand turns flags on and off the way an operator does.
func TestFlagCommand(t *testing.T) {
	t.Setenv("DATABASE_URL", testkit.DatabaseURL(t))
	t.Setenv("APP_ENV", "test")
	t.Setenv("FEATURE_AI_AGENTS", "true")
	t.Setenv("FEATURE_ENRICHMENT", "false")
	ctx := context.Background()
	pool, err := db.Open(ctx, os.Getenv("DATABASE_URL"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	id, _ := testkit.User(t, pool, "op@example.com")

	var out bytes.Buffer
	if err := flagCommand(ctx, []string{"enable", "ai-agents", "OP@example.com"}, &out); err != nil {
		t.Fatal(err)
	}
	if err := flagCommand(ctx, []string{"enable", "enrichment", id.String()}, &out); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := flagCommand(ctx, []string{"list", "op@example.com"}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Join(strings.Fields(out.String()), " ")
	for _, want := range []string{"ai-agents on on on", "enrichment on off off", "webhooks off off off"} {
		if !strings.Contains(lines, want) {
			t.Errorf("list does not say %q:\n%s", want, out.String())
		}
	}
	if err := flagCommand(ctx, []string{"disable", "ai-agents", "op@example.com"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	got, _ := feature.NewSettings(pool).Get(ctx, id)
	if got["ai-agents"] || !got["enrichment"] {
		t.Fatalf("settings after disable: %v", got)
	}

	for _, args := range [][]string{{"enable", "teleport", "op@example.com"}, {"enable", "ai-agents", "nobody@example.com"}, {"frobnicate"}, {}} {
		if err := flagCommand(ctx, args, io.Discard); err == nil {
			t.Errorf("flag %v: no error", args)
		}
	}
}

func TestLocalURLFollowsPort(t *testing.T) {
	got := localEnv([]string{"PORT=4100", "OTHER=x=y"})
	if got["AUTH_URL"] != "http://localhost:4100" || got["AUTH_REDIRECT_URL"] != "http://localhost:4100/" || got["OTHER"] != "x=y" {
		t.Fatalf("%v", got)
	}
	got = localEnv([]string{"PORT=4100", "AUTH_URL=https://crm.test"})
	if got["AUTH_URL"] != "https://crm.test" || got["AUTH_REDIRECT_URL"] != "" {
		t.Fatalf("an explicit AUTH_URL was changed: %v", got)
	}
}

// TestSignInSyncsSandboxMail: in the local server, signing in at the
// sandbox Google fills the person's mailbox, the sign-in starts the first
// sync, and its mail's people become contacts, with no one for the
// automated sender.
func TestSignInSyncsSandboxMail(t *testing.T) {
	t.Parallel()
	s, base, _ := devServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	s.jobs.start(ctx)
	t.Cleanup(s.jobs.wait)
	t.Cleanup(cancel)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	page, err := browser.Get(base + "/auth/google/login")
	if err != nil {
		t.Fatal(err)
	}
	landed := testkit.Consent(t, browser, page, "ada@example.com", true)
	landed.Body.Close()
	if landed.StatusCode != http.StatusOK || landed.Request.URL.String() != base+"/" {
		t.Fatalf("landed on %s with %d", landed.Request.URL, landed.StatusCode)
	}

	type contact struct {
		Name  *string `json:"name"`
		Email *string `json:"email"`
	}
	var contacts []contact
	names := func() map[string]bool {
		out := map[string]bool{}
		for _, c := range contacts {
			if c.Name != nil {
				out[*c.Name] = true
			}
		}
		return out
	}
	all := func() bool {
		got := names()
		for _, p := range sandboxPeople {
			if !got[p] {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(time.Minute)
	for !all() {
		if time.Now().After(deadline) {
			t.Fatalf("contacts after a minute: %v, want %v", names(), sandboxPeople)
		}
		time.Sleep(50 * time.Millisecond)
		res, err := browser.Get(base + "/v1/contacts?limit=100")
		if err != nil {
			t.Fatal(err)
		}
		var page struct{ Items []contact }
		err = json.NewDecoder(res.Body).Decode(&page)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("GET /v1/contacts: %d %v", res.StatusCode, err)
		}
		contacts = page.Items
	}
	for _, c := range contacts {
		if c.Email != nil && (*c.Email == sandboxNoReply || *c.Email == "ada@example.com") {
			t.Errorf("contact %s from the sandbox mailbox", *c.Email)
		}
	}
	if len(contacts) != len(sandboxPeople) {
		t.Errorf("%d contacts, want %d: %v", len(contacts), len(sandboxPeople), names())
	}
	// The calendar's past meetings count too: Grace's two emails and four
	// weekly meetings; Katherine declined hers.
	for grace, kj := 0, -1; grace != 6 || kj != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatalf("interactions with Grace %d, meetings with Katherine %d; want 6 and 0", grace, kj)
		}
		if err := s.pool.QueryRow(context.Background(), `select
				(select interaction_count from contacts where email = 'grace@example.com'),
				(select count(*) from event_contacts ec join contacts c on c.id = ec.contact_id where c.email = 'katherine@example.org')`).Scan(&grace, &kj); err != nil {
			t.Fatal(err)
		}
	}
}

// TestServerConnectsAsRuntimeRole: the local server migrates as the owner
// in DATABASE_URL and then serves as the runtime role, as deployments do.
func TestServerConnectsAsRuntimeRole(t *testing.T) {
	t.Parallel()
	s, _, _ := devServer(t)
	var who string
	if err := s.pool.QueryRow(context.Background(), "select current_user").Scan(&who); err != nil {
		t.Fatal(err)
	}
	if who != config.DatabaseAppRole {
		t.Fatalf("the local server connects as %q, want the runtime role %s", who, config.DatabaseAppRole)
	}
}
