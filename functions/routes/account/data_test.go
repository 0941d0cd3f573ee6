package account_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/personalcrm/core/functions/routes/account"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/domain/user"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/worker"
	"github.com/personalcrm/core/shared/sandbox"
	"github.com/personalcrm/core/shared/testkit"
)

// dataFixture serves the routes of a person's data with a sandbox Google,
// a Redis cache in front of the sessions, and two people with Google
// accounts and data.
type dataFixture struct {
	pool           *db.Pool
	kit            testkit.GoogleKit
	cache          *cache.Cache
	server         *api.Server
	aliceID, bobID uuid.UUID
	alice, bob     string // session tokens
	aliceAcc       uuid.UUID
	bobAcc         uuid.UUID
	mem            *queue.Memory
	q              *queue.Queue
}

func setupData(t *testing.T) *dataFixture {
	t.Helper()
	pool := testkit.DB(t)
	f := &dataFixture{pool: pool, kit: testkit.StartGoogleKit(t, pool, sandbox.GoogleOptions{})}
	f.cache = testkit.Redis(t, cache.Options{})
	sessions := auth.NewCachedSessions(auth.NewSessions(pool), f.cache, auth.CacheOptions{Secret: []byte("a test secret of at least 32 characters")})
	data := user.NewData(pool, f.kit.Tokens)
	f.server = api.NewServer(api.Options{Sessions: sessions},
		account.Get(user.NewService(pool)),
		account.Disconnect(data, nil),
		account.Delete(account.DeleteDeps{Users: data, Sessions: sessions, Cache: f.cache,
			Cookies: auth.SessionCookie(&url.URL{Scheme: "http", Host: "localhost:3000"}, false)}),
		account.Export(account.ExportDeps{Users: data}))
	f.aliceID, f.alice, f.aliceAcc = f.kit.Account(t, pool, "alice@example.com")
	f.bobID, f.bob, f.bobAcc = f.kit.Account(t, pool, "bob@example.com")
	f.mem = queue.NewMemory(queue.MemoryOptions{})
	f.q = queue.New(pool, f.mem, nil)
	return f
}

// watch gives the account's mailbox a Gmail watch, as gmail-watch does.
func (f *dataFixture) watch(t *testing.T, userID, accountID uuid.UUID) {
	t.Helper()
	tok, err := f.kit.Tokens.Token(context.Background(), userID, accountID)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", google.SandboxEndpoints(f.kit.Sandbox.URL()).Gmail+"gmail/v1/users/me/watch",
		strings.NewReader(`{"topicName":"projects/p/topics/gmail"}`))
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("watch: %d", res.StatusCode)
	}
}

// seed gives the user a row in every table of theirs: a contact, an
// email with its link to the contact, an insight, the account's sync
// state and a queued job, on top of their account and session.
func (f *dataFixture) seed(t *testing.T, userID, accountID uuid.UUID, tag string) {
	t.Helper()
	ctx := context.Background()
	contactID, emailID, eventID := uuid.New(), uuid.New(), uuid.New()
	stmts := []struct {
		sql  string
		args []any
	}{
		{`insert into contacts (id, user_id, email, name) values ($1, $2, $3, $4)`, []any{contactID, userID, tag + "-friend@example.org", tag + " Friend"}},
		{`insert into emails (id, user_id, account_id, provider_id, subject, snippet, from_header) values ($1, $2, $3, $4, $5, 'hello', $6)`,
			[]any{emailID, userID, accountID, "m-" + tag, "Lunch with " + tag, tag + "-friend@example.org"}},
		{`insert into email_contacts (email_id, contact_id, user_id, role) values ($1, $2, $3, 'from')`, []any{emailID, contactID, userID}},
		{`insert into ai_insights (id, user_id, contact_id, type, job_id, model, content) values ($1, $2, $3, 'contact-summary', $4, 'm', '{"summary":"x"}')`,
			[]any{uuid.New(), userID, contactID, uuid.New()}},
		{`insert into sync_state (account_id, user_id, history_id) values ($1, $2, '42')`, []any{accountID, userID}},
		{`insert into calendar_sync_state (account_id, user_id, status, sync_token) values ($1, $2, 'synced', 'tok')`, []any{accountID, userID}},
		{`insert into calendar_events (id, user_id, account_id, google_id, title, starts_at, ends_at, status)
			values ($1, $2, $3, $4, $5, now() - interval '2 hours', now() - interval '1 hour', 'confirmed')`,
			[]any{eventID, userID, accountID, "ev-" + tag, "Coffee with " + tag}},
		{`insert into event_contacts (event_id, contact_id, user_id, starts_at, response, role)
			values ($1, $2, $3, now() - interval '2 hours', 'accepted', 'required')`, []any{eventID, contactID, userID}},
	}
	for _, s := range stmts {
		if _, err := f.pool.Exec(ctx, s.sql, s.args...); err != nil {
			t.Fatalf("seed %q: %v", s.sql, err)
		}
	}
	f.enqueue(t, userID, accountID)
	// Cached reads of theirs.
	// The first read makes the scope's version, the second stores.
	cached(f.cache, userID, "cached")
	cached(f.cache, userID, "cached")
	if got := cached(f.cache, userID, "not cached"); got != "cached" {
		t.Fatalf("cache: %q", got)
	}
}

// cached reads the probe entry of the user's contacts scope, loading
// value on a miss.
func cached(c *cache.Cache, userID uuid.UUID, value string) string {
	v, _ := cache.GetOrLoad(context.Background(), c, contact.Scope(userID), "probe", time.Minute, func(context.Context) (string, error) {
		return value, nil
	})
	return v
}

// enqueue queues a mail sync of the account, sent to the queue.
func (f *dataFixture) enqueue(t *testing.T, userID, accountID uuid.UUID) queue.Job {
	t.Helper()
	var j queue.Job
	err := f.q.InTx(context.Background(), func(tx *queue.Tx) error {
		var err error
		j, err = tx.Enqueue(context.Background(), email.SyncJob{UserID: userID, AccountID: accountID})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// userTables are every table of the schema with a user_id column or a
// foreign key to users, with the column.
func userTables(t *testing.T, pool *db.Pool) map[string]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		select table_name, column_name from information_schema.columns
		where table_schema = current_schema() and column_name = 'user_id'
		union
		select kcu.table_name, kcu.column_name
		from information_schema.table_constraints tc
		join information_schema.key_column_usage kcu
			on kcu.constraint_schema = tc.constraint_schema and kcu.constraint_name = tc.constraint_name
		join information_schema.constraint_column_usage ccu
			on ccu.constraint_schema = tc.constraint_schema and ccu.constraint_name = tc.constraint_name
		where tc.constraint_type = 'FOREIGN KEY' and tc.table_schema = current_schema() and ccu.table_name = 'users'`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for rows.Next() {
		var table, column string
		if err := rows.Scan(&table, &column); err != nil {
			t.Fatal(err)
		}
		out[table] = column
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	out["users"] = "id"
	return out
}

// allTables are every table of the schema.
func allTables(t *testing.T, pool *db.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `select table_name from information_schema.tables
		where table_schema = current_schema() and table_type = 'BASE TABLE' order by 1`)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		out = append(out, s)
	}
	return out
}

// holdings counts the user's rows in each table of theirs, and sums up
// their content, so that a change to any of them shows.
func holdings(t *testing.T, pool *db.Pool, tables map[string]string, userID uuid.UUID) map[string]string {
	t.Helper()
	out := map[string]string{}
	for table, column := range tables {
		var n int
		var digest *string
		err := pool.QueryRow(context.Background(), fmt.Sprintf(
			`select count(*), md5(string_agg(row_to_json(t)::text, ',' order by row_to_json(t)::text)) from %q t where %q = $1`, table, column),
			userID).Scan(&n, &digest)
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		d := ""
		if digest != nil {
			d = *digest
		}
		out[table] = fmt.Sprintf("%d %s", n, d)
	}
	return out
}

func TestDisconnectGoogle(t *testing.T) {
	t.Parallel()
	f := setupData(t)
	ctx := context.Background()
	f.seed(t, f.aliceID, f.aliceAcc, "alice")
	f.watch(t, f.aliceID, f.aliceAcc)
	f.watch(t, f.bobID, f.bobAcc)
	before := holdings(t, f.pool, map[string]string{"contacts": "user_id", "emails": "user_id", "ai_insights": "user_id", "email_contacts": "user_id"}, f.aliceID)
	tr := testkit.Transports(f.server)

	// Without a session: 401 with the envelope, nothing revoked.
	res := tr[0].Do(t, testkit.Request("POST", "/v1/user/google/disconnect", "", nil))
	var env envelope
	testkit.ReadJSON(t, res, &env)
	if res.StatusCode != http.StatusUnauthorized || env.Error.Code == "" || !f.kit.Sandbox.HasGrant("alice@example.com") {
		t.Fatalf("unauthenticated: %d %+v", res.StatusCode, env)
	}

	res = tr[1].Do(t, testkit.Request("POST", "/v1/user/google/disconnect", f.alice, nil))
	var out struct {
		DisconnectedAt time.Time `json:"disconnectedAt"`
		Revocation     string    `json:"revocation"`
	}
	raw := testkit.ReadJSON(t, res, &out)
	if res.StatusCode != http.StatusOK || out.Revocation != "revoked" || out.DisconnectedAt.IsZero() {
		t.Fatalf("disconnect: %d %s", res.StatusCode, raw)
	}
	// At Google: the grant is gone, the watch stopped; Bob's are not.
	if f.kit.Sandbox.HasGrant("alice@example.com") || f.kit.Sandbox.Watched("alice@example.com") {
		t.Errorf("Google still has Alice's grant (%v) or watch (%v)", f.kit.Sandbox.HasGrant("alice@example.com"), f.kit.Sandbox.Watched("alice@example.com"))
	}
	if !f.kit.Sandbox.HasGrant("bob@example.com") || !f.kit.Sandbox.Watched("bob@example.com") {
		t.Error("Bob's grant or watch ended")
	}
	// Here: no token left, the account marked, nothing to sync.
	var tokens int
	f.pool.QueryRow(ctx, `select count(*) from accounts where user_id = $1 and (access_token is not null or refresh_token is not null
		or id_token is not null or disconnected_at is null)`, f.aliceID).Scan(&tokens)
	if tokens != 0 {
		t.Error("Alice's account keeps tokens or is not marked disconnected")
	}
	if _, err := f.kit.Tokens.Token(ctx, f.aliceID, f.aliceAcc); err == nil {
		t.Error("a token of a disconnected account")
	}
	if _, err := f.kit.Tokens.Token(ctx, f.bobID, f.bobAcc); err != nil {
		t.Errorf("Bob's token: %v", err)
	}
	// The CRM data stays.
	if after := holdings(t, f.pool, map[string]string{"contacts": "user_id", "emails": "user_id", "ai_insights": "user_id", "email_contacts": "user_id"}, f.aliceID); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("CRM data changed:\n%v\n%v", before, after)
	}
	var u account.User
	res = tr[0].Do(t, testkit.Request("GET", "/v1/user", f.alice, nil))
	testkit.ReadJSON(t, res, &u)
	if u.GoogleConnected || u.NeedsReconsent {
		t.Errorf("user after disconnecting: %+v", u)
	}

	// Again: the same disconnection, nothing left to revoke, no call to
	// Google.
	revokes := f.kit.Sandbox.Calls("revoke")
	for _, tt := range tr {
		var again struct {
			DisconnectedAt time.Time `json:"disconnectedAt"`
			Revocation     string    `json:"revocation"`
		}
		res = tt.Do(t, testkit.Request("POST", "/v1/user/google/disconnect", f.alice, nil))
		testkit.ReadJSON(t, res, &again)
		if res.StatusCode != http.StatusOK || again.Revocation != "none" || !again.DisconnectedAt.Equal(out.DisconnectedAt) {
			t.Errorf("%s: again: %d %+v", tt.Name, res.StatusCode, again)
		}
	}
	if f.kit.Sandbox.Calls("revoke") != revokes {
		t.Error("a second disconnection called Google")
	}

	// Signing in with Google again: Google asks for consent, as the grant
	// is gone, and the account is connected again.
	verifier := oauth2.GenerateVerifier()
	code, _ := testkit.ConsentCode(t, f.kit.Client.AuthCodeURL("s", verifier, false), "alice@example.com")
	tok, err := f.kit.Client.Exchange(ctx, code, verifier)
	if err != nil {
		t.Fatalf("sign-in after disconnecting: %v", err)
	}
	if tok.RefreshToken == "" {
		t.Fatalf("sign-in after disconnecting: no refresh token")
	}
	p, err := f.kit.Client.Profile(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	signIn := user.NewSignIn(f.pool, f.kit.Tokens, auth.NewSessions(f.pool))
	if _, err := signIn.Complete(ctx, user.Identity{Subject: p.Subject, Email: p.Email, EmailVerified: true}, tok, auth.Meta{}); err != nil {
		t.Fatal(err)
	}
	res = tr[0].Do(t, testkit.Request("GET", "/v1/user", f.alice, nil))
	testkit.ReadJSON(t, res, &u)
	if !u.GoogleConnected {
		t.Errorf("user after signing in again: %+v", u)
	}
	if _, err := f.kit.Tokens.Token(ctx, f.aliceID, f.aliceAcc); err != nil {
		t.Errorf("token after signing in again: %v", err)
	}
}

func TestDisconnectWithoutGoogleAccount(t *testing.T) {
	t.Parallel()
	f := setupData(t)
	carolID, carol := testkit.User(t, f.pool, "carol@example.com")
	for _, tr := range testkit.Transports(f.server) {
		res := tr.Do(t, testkit.Request("POST", "/v1/user/google/disconnect", carol, nil))
		var env envelope
		testkit.ReadJSON(t, res, &env)
		if res.StatusCode != http.StatusNotFound || env.Error.Code != "NOT_FOUND" {
			t.Errorf("%s: %d %+v", tr.Name, res.StatusCode, env)
		}
	}
	var n int
	f.pool.QueryRow(context.Background(), `select count(*) from users where id = $1`, carolID).Scan(&n)
	if n != 1 {
		t.Error("Carol is gone")
	}
}

func TestDisconnectWhileGoogleIsDown(t *testing.T) {
	t.Parallel()
	f := setupData(t)
	f.kit.Sandbox.SetDown(true)
	res := testkit.Transports(f.server)[0].Do(t, testkit.Request("POST", "/v1/user/google/disconnect", f.alice, nil))
	var out struct {
		Revocation string `json:"revocation"`
	}
	testkit.ReadJSON(t, res, &out)
	if res.StatusCode != http.StatusOK || out.Revocation != "unconfirmed" {
		t.Fatalf("disconnect: %d %+v", res.StatusCode, out)
	}
	var n int
	f.pool.QueryRow(context.Background(), `select count(*) from accounts where user_id = $1 and refresh_token is null and disconnected_at is not null`, f.aliceID).Scan(&n)
	if n != 1 {
		t.Error("the tokens are kept while Google is down")
	}
}

func TestDeleteAccountLeavesNothingOfTheirs(t *testing.T) {
	t.Parallel()
	f := setupData(t)
	ctx := context.Background()
	f.seed(t, f.aliceID, f.aliceAcc, "alice")
	f.seed(t, f.bobID, f.bobAcc, "bob")
	f.watch(t, f.aliceID, f.aliceAcc)
	// A second session of Alice's, used once so that the cache holds it.
	second, _, err := auth.NewSessions(f.pool).Create(ctx, nil, f.aliceID, auth.Meta{UserAgent: "second"})
	if err != nil {
		t.Fatal(err)
	}
	tr := testkit.Transports(f.server)
	if res := tr[0].Do(t, testkit.Request("GET", "/v1/user", second, nil)); res.StatusCode != http.StatusOK {
		t.Fatalf("second session: %d", res.StatusCode)
	}

	tables := userTables(t, f.pool)
	// Each table of a user's is seeded, so the scan below means
	// something.
	for table, h := range holdings(t, f.pool, tables, f.aliceID) {
		if strings.HasPrefix(h, "0 ") {
			t.Errorf("the test gives Alice no row in %s", table)
		}
	}
	bobBefore := holdings(t, f.pool, tables, f.bobID)

	res := tr[1].Do(t, testkit.Request("DELETE", "/v1/user", f.alice, nil))
	var out struct {
		Deleted    bool   `json:"deleted"`
		Revocation string `json:"revocation"`
	}
	raw := testkit.ReadJSON(t, res, &out)
	if res.StatusCode != http.StatusOK || !out.Deleted || out.Revocation != "revoked" {
		t.Fatalf("delete: %d %s", res.StatusCode, raw)
	}
	if c := res.Header.Get("Set-Cookie"); !strings.Contains(c, "Max-Age=0") && !strings.Contains(c, "Expires=Thu, 01 Jan 1970") {
		t.Errorf("the session cookie is not deleted: %q", c)
	}
	if f.kit.Sandbox.HasGrant("alice@example.com") || f.kit.Sandbox.Watched("alice@example.com") {
		t.Error("Google keeps Alice's grant or watch")
	}

	// Nothing of Alice's in any table: by the user columns and foreign
	// keys, and by her ids anywhere in any row.
	for table, h := range holdings(t, f.pool, tables, f.aliceID) {
		if !strings.HasPrefix(h, "0 ") {
			t.Errorf("%s keeps Alice's rows: %s", table, h)
		}
	}
	for _, table := range allTables(t, f.pool) {
		var n int
		err := f.pool.QueryRow(ctx, fmt.Sprintf(`select count(*) from %q t where row_to_json(t)::text like '%%' || $1 || '%%' or row_to_json(t)::text like '%%' || $2 || '%%'`, table),
			f.aliceID.String(), f.aliceAcc.String()).Scan(&n)
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if n != 0 {
			t.Errorf("%s: %d rows name Alice or her account", table, n)
		}
	}
	// Bob's are as they were, and Google kept his grant.
	if after := holdings(t, f.pool, tables, f.bobID); fmt.Sprint(after) != fmt.Sprint(bobBefore) {
		t.Errorf("Bob's data changed:\n%v\n%v", bobBefore, after)
	}
	if !f.kit.Sandbox.HasGrant("bob@example.com") {
		t.Error("Bob's grant was revoked")
	}
	// What the cache held of her is gone: her cached reads, and her
	// sessions, the one cached included.
	if cached(f.cache, f.aliceID, "fresh") != "fresh" {
		t.Error("the cache keeps Alice's contacts")
	}
	if cached(f.cache, f.bobID, "fresh") != "cached" {
		t.Error("the cache lost Bob's contacts")
	}
	for _, tok := range []string{f.alice, second} {
		res := tr[0].Do(t, testkit.Request("GET", "/v1/user", tok, nil))
		var env envelope
		testkit.ReadJSON(t, res, &env)
		if res.StatusCode != http.StatusUnauthorized || env.Error.Code == "" {
			t.Errorf("a session of a deleted user: %d %+v", res.StatusCode, env)
		}
	}
	// Deleting again: the session is gone, 401.
	res = tr[0].Do(t, testkit.Request("DELETE", "/v1/user", f.alice, nil))
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("delete again: %d", res.StatusCode)
	}

	// Her queued job ends without effect: the worker drops its message
	// and never runs it; Bob's runs.
	ran := map[uuid.UUID]int{}
	w := worker.New(catalog.MustLookup(catalog.EmailSync), f.pool, f.mem, func(ctx context.Context, j queue.Job, p email.SyncJob) error {
		ran[p.UserID]++
		return nil
	}, worker.Options{})
	for range 3 {
		if _, err := worker.PollOnce(ctx, f.mem, catalog.MustLookup(catalog.EmailSync), w.Handle, 0); err != nil {
			t.Fatal(err)
		}
	}
	if ran[f.aliceID] != 0 || ran[f.bobID] != 1 {
		t.Errorf("jobs run: Alice's %d, Bob's %d", ran[f.aliceID], ran[f.bobID])
	}
	if d, err := f.mem.Depth(ctx, catalog.EmailSync); err != nil {
		t.Errorf("depth of the queue: %v", err)
	} else if d.Queued+d.InFlight+d.Delayed+d.DeadLetters != 0 {
		t.Errorf("left on the queue: %+v", d)
	}
}

func TestExportThroughAPI(t *testing.T) {
	t.Parallel()
	f := setupData(t)
	ctx := context.Background()
	f.seed(t, f.aliceID, f.aliceAcc, "alice")
	f.seed(t, f.bobID, f.bobAcc, "bob")
	if _, err := f.kit.Tokens.Token(ctx, f.aliceID, f.aliceAcc); err != nil {
		t.Fatal(err)
	}
	// Every token Google gave out, and what is stored of them.
	secrets := f.kit.Sandbox.Issued()
	var sealed []byte
	f.pool.QueryRow(ctx, `select refresh_token from accounts where id = $1`, f.aliceAcc).Scan(&sealed)
	secrets = append(secrets, base64.StdEncoding.EncodeToString(sealed), f.bobID.String(), "bob", "token_hash", "tokenHash", "refresh_token", "accessToken")
	if len(secrets) < 8 {
		t.Fatalf("issued: %v", secrets)
	}
	for _, tr := range testkit.Transports(f.server) {
		t.Run(tr.Name, func(t *testing.T) {
			res := tr.Do(t, testkit.Request("GET", "/v1/user/export", f.alice, nil))
			var doc user.Export
			raw := testkit.ReadJSON(t, res, &doc)
			if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") ||
				!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment;") || res.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("export: %d %v %s", res.StatusCode, res.Header, raw)
			}
			if doc.Format != user.ExportFormat || doc.User.ID != f.aliceID || len(doc.Accounts) != 1 || len(doc.Sessions) != 1 ||
				len(doc.Contacts) != 1 || len(doc.Emails) != 1 || len(doc.EmailContacts) != 1 || len(doc.Insights) != 1 ||
				len(doc.SyncStates) != 1 || len(doc.Jobs) != 1 {
				t.Errorf("document: %s", raw)
			}
			if doc.Contacts[0].Email == nil || *doc.Contacts[0].Email != "alice-friend@example.org" {
				t.Errorf("contacts: %+v", doc.Contacts)
			}
			// Nothing of Bob's, and no secret.
			for _, s := range secrets {
				if s != "" && bytes.Contains(raw, []byte(s)) {
					t.Errorf("the export holds %q", s)
				}
			}
		})
	}
	// Without a session: the error envelope.
	res := testkit.Transports(f.server)[1].Do(t, testkit.Request("GET", "/v1/user/export", "", nil))
	var env envelope
	testkit.ReadJSON(t, res, &env)
	if res.StatusCode != http.StatusUnauthorized || env.Error.Code == "" {
		t.Errorf("unauthenticated export: %d %+v", res.StatusCode, env)
	}
}

// TestCacheScopesCoverTheCode finds every per-user cache scope the code
// names, so that deleting a user drops each.
func TestCacheScopesCoverTheCode(t *testing.T) {
	t.Parallel()
	dropped := map[string]bool{}
	for _, scope := range account.CacheScopes {
		dropped[scope(uuid.New()).Name] = true
	}
	re := regexp.MustCompile(`cache\.Scope\{Name:\s*"([^"]+)",\s*Owner:`)
	found := 0
	for _, dir := range []string{"../../../shared", "../../../functions"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range re.FindAllSubmatch(src, -1) {
				found++
				if !dropped[string(m[1])] {
					t.Errorf("%s: the per-user cache scope %q is not dropped when its user is deleted (account.CacheScopes)", path, m[1])
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if found < len(account.CacheScopes) {
		t.Errorf("found %d scopes in the code, fewer than the %d dropped", found, len(account.CacheScopes))
	}
}

// TestDeleteWhileGoogleIsDown: a person is deleted even when Google does
// not answer; the answer says the revocation is unconfirmed.
func TestDeleteWhileGoogleIsDown(t *testing.T) {
	t.Parallel()
	f := setupData(t)
	f.kit.Sandbox.SetDown(true)
	res := testkit.Transports(f.server)[1].Do(t, testkit.Request("DELETE", "/v1/user", f.alice, nil))
	var out struct {
		Deleted    bool   `json:"deleted"`
		Revocation string `json:"revocation"`
	}
	raw := testkit.ReadJSON(t, res, &out)
	if res.StatusCode != http.StatusOK || !out.Deleted || out.Revocation != "unconfirmed" {
		t.Fatalf("delete: %d %s", res.StatusCode, raw)
	}
	var users, accounts int
	f.pool.QueryRow(context.Background(), `select (select count(*) from users where id = $1), (select count(*) from accounts where user_id = $1)`, f.aliceID).Scan(&users, &accounts)
	if users != 0 || accounts != 0 {
		t.Errorf("left: %d users, %d accounts", users, accounts)
	}
}
