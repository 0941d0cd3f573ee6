package signin_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/personalcrm/core/functions/routes/account"
	"github.com/personalcrm/core/functions/routes/signin"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/user"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/sandbox"
	"github.com/personalcrm/core/shared/testkit"
)

// fixture is the API's sign-in and user routes on a local server, signing
// in at a sandbox Google.
type fixture struct {
	pool   *db.Pool
	google *sandbox.Google
	base   string // the API's URL
	server *api.Server
	cfg    *config.Config
}

// webApp is an allowed origin besides the API's own.
const webApp = "http://localhost:5173"

var everything = catalog.Function{Name: "test", Uses: []catalog.Resource{catalog.Database, catalog.Google, catalog.TokenKeys}}

func setup(t *testing.T) fixture {
	t.Helper()
	g := testkit.StartGoogle(t, sandbox.GoogleOptions{})
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	cfg, err := config.Load(context.Background(), everything, config.WithEnv(map[string]string{
		"APP_ENV": "test", "AUTH_URL": base, "AUTH_REDIRECT_URL": base + "/home", "GOOGLE_SANDBOX_URL": g.URL(),
		"CORS_ORIGINS": webApp,
	}))
	if err != nil {
		t.Fatal(err)
	}
	pool := testkit.DB(t)
	sessions := auth.NewCachedSessions(auth.NewSessions(pool), nil, auth.CacheOptions{})
	login, err := signin.NewLoginDeps(cfg, pool, sessions, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	callback, err := signin.NewCallbackDeps(cfg, pool, sessions, queue.New(pool, nil, nil), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer(api.Options{Sessions: sessions}.WithConfig(cfg),
		signin.Login(login), signin.Callback(callback), signin.Logout(sessions, login.Cookies, login.Returns),
		account.Get(user.NewService(pool)), account.SessionsList(sessions))
	srv.HandleFunc("GET /home", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "home") })
	ts.Config.Handler = srv
	ts.Start()
	t.Cleanup(ts.Close)
	return fixture{pool: pool, google: g, base: base, server: srv, cfg: cfg}
}

func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// toCallback runs a sign-in in client up to the moment the browser would
// come back to the callback, and returns that URL (with code and state).
func (f fixture) toCallback(t *testing.T, client *http.Client, email string) *url.URL {
	t.Helper()
	return f.toCallbackFrom(t, client, f.base+"/auth/google/login", email)
}

// toCallbackFrom is toCallback from the login URL login.
func (f fixture) toCallbackFrom(t *testing.T, client *http.Client, login, email string) *url.URL {
	t.Helper()
	page, err := client.Get(login)
	if err != nil {
		t.Fatal(err)
	}
	stop := *client
	stop.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.URL.Path == "/auth/google/callback" {
			return http.ErrUseLastResponse
		}
		return nil
	}
	res := testkit.Consent(t, &stop, page, email, true)
	res.Body.Close()
	u, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatalf("consent went to %q: %v", res.Header.Get("Location"), err)
	}
	if u.Path != "/auth/google/callback" {
		t.Fatalf("consent went to %q, want /auth/google/callback", res.Header.Get("Location"))
	}
	return u
}

// callback brings the browser back to u without following the redirect.
func callback(t *testing.T, client *http.Client, u *url.URL) (*http.Response, string) {
	t.Helper()
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(body)
}

func with(u *url.URL, key, value string) *url.URL {
	c := *u
	q := c.Query()
	q.Set(key, value)
	c.RawQuery = q.Encode()
	return &c
}

// counts are the rows sign-in may write.
func counts(t *testing.T, pool *db.Pool) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"users", "accounts", "sessions"} {
		var n int
		if err := pool.QueryRow(context.Background(), "select count(*) from "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

func sessionCookie(res *http.Response) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == auth.CookieName && c.Value != "" {
			return c
		}
	}
	return nil
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	f := setup(t)
	client := browser(t)
	u := f.toCallback(t, client, "ada@example.com")
	res, body := callback(t, client, u)
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != f.base+"/home" {
		t.Fatalf("callback: %d to %q: %s", res.StatusCode, res.Header.Get("Location"), body)
	}
	c := sessionCookie(res)
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge < int(auth.SessionTTL.Seconds())-60 {
		t.Fatalf("session cookie %v", res.Header.Values("Set-Cookie"))
	}
	if c.Secure {
		t.Fatal("cookie is Secure on plain http to a loopback host in test: browsers would drop it")
	}
	var acct struct {
		scope           string
		hasRefresh      bool
		needsReconsent  bool
		name, imageURL  *string
		providerSubject string
	}
	err := f.pool.QueryRow(context.Background(), `select a.scope, a.refresh_token is not null, a.needs_reconsent, u.name, u.image_url, a.provider_account_id
		from accounts a join users u on u.id = a.user_id where lower(u.email) = 'ada@example.com'`).
		Scan(&acct.scope, &acct.hasRefresh, &acct.needsReconsent, &acct.name, &acct.imageURL, &acct.providerSubject)
	if err != nil {
		t.Fatal(err)
	}
	if !acct.hasRefresh || acct.needsReconsent || !strings.Contains(acct.scope, "gmail.readonly") || acct.name == nil || acct.providerSubject == "" {
		t.Fatalf("account after sign-in: %+v", acct)
	}
	// The state is used up: the same callback again is refused.
	if res, _ := callback(t, client, u); res.Header.Get("Location") != f.base+"/home?error=invalid_request" || sessionCookie(res) != nil {
		t.Fatalf("callback replayed: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestCallbackRefusals: each broken sign-in goes back to the web app with
// its error code, with no session cookie and no row written.
func TestCallbackRefusals(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.google.AddUser(sandbox.GoogleUser{Email: "unverified@example.com", EmailVerified: false, Name: "Un Verified"})

	tests := []struct {
		name string
		want string // the error code
		// run returns the callback's response.
		run func(t *testing.T) (*http.Response, string)
	}{
		{"state mismatch", "invalid_request", func(t *testing.T) (*http.Response, string) {
			client := browser(t)
			u := f.toCallback(t, client, "a@example.com")
			return callback(t, client, with(u, "state", auth.NewToken()))
		}},
		{"missing state cookie", "invalid_request", func(t *testing.T) (*http.Response, string) {
			u := f.toCallback(t, browser(t), "a@example.com")
			return callback(t, http.DefaultClient, u)
		}},
		{"state of another browser", "invalid_request", func(t *testing.T) (*http.Response, string) {
			u := f.toCallback(t, browser(t), "a@example.com")
			other := browser(t)
			f.toCallback(t, other, "a@example.com")
			return callback(t, other, u)
		}},
		{"PKCE verifier mismatch", "invalid_request", func(t *testing.T) (*http.Response, string) {
			// The victim's code, brought back in the attacker's own sign-in.
			victim := f.toCallback(t, browser(t), "victim@example.com")
			attacker := browser(t)
			own := f.toCallback(t, attacker, "attacker@example.com")
			return callback(t, attacker, with(own, "code", victim.Query().Get("code")))
		}},
		{"reused code", "invalid_request", func(t *testing.T) (*http.Response, string) {
			client := browser(t)
			first := f.toCallback(t, client, "reuse@example.com")
			if res, body := callback(t, client, first); res.StatusCode != http.StatusFound || res.Header.Get("Location") != f.base+"/home" {
				t.Fatalf("first use: %d %s", res.StatusCode, body)
			}
			before := counts(t, f.pool)
			again := f.toCallback(t, client, "reuse@example.com")
			res, body := callback(t, client, with(again, "code", first.Query().Get("code")))
			if d := cmp.Diff(before, counts(t, f.pool)); d != "" {
				t.Fatalf("rows written:\n%s", d)
			}
			return res, body
		}},
		{"expired state", "invalid_request", func(t *testing.T) (*http.Response, string) {
			client := browser(t)
			u := f.toCallback(t, client, "a@example.com")
			f.pool.Exec(context.Background(), `update verification_tokens set expires_at = now() - interval '1 second'`)
			return callback(t, client, u)
		}},
		{"no code", "invalid_request", func(t *testing.T) (*http.Response, string) {
			client := browser(t)
			u := f.toCallback(t, client, "a@example.com")
			return callback(t, client, with(u, "code", ""))
		}},
		{"access denied", "access_denied", func(t *testing.T) (*http.Response, string) {
			client := browser(t)
			page, err := client.Get(f.base + "/auth/google/login")
			if err != nil {
				t.Fatal(err)
			}
			stop := *client
			stop.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
				if req.URL.Path == "/auth/google/callback" {
					return http.ErrUseLastResponse
				}
				return nil
			}
			res := testkit.Consent(t, &stop, page, "shy@example.com", false)
			u, _ := url.Parse(res.Header.Get("Location"))
			if u.Query().Get("error") != "access_denied" {
				t.Fatalf("sandbox answered %s", u)
			}
			return callback(t, client, u)
		}},
		{"email not verified", "access_denied", func(t *testing.T) (*http.Response, string) {
			client := browser(t)
			return callback(t, client, f.toCallback(t, client, "unverified@example.com"))
		}},
		{"Google down", "temporarily_unavailable", func(t *testing.T) (*http.Response, string) {
			client := browser(t)
			u := f.toCallback(t, client, "a@example.com")
			f.google.SetDown(true)
			defer f.google.SetDown(false)
			return callback(t, client, u)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := counts(t, f.pool)
			res, body := tt.run(t)
			if want := f.base + "/home?error=" + tt.want; res.StatusCode != http.StatusFound || res.Header.Get("Location") != want {
				t.Fatalf("%d to %q, want 302 to %q: %s", res.StatusCode, res.Header.Get("Location"), want, body)
			}
			if c := sessionCookie(res); c != nil {
				t.Fatalf("session cookie set: %v", c)
			}
			if tt.name != "reused code" {
				if d := cmp.Diff(before, counts(t, f.pool)); d != "" {
					t.Fatalf("rows written:\n%s", d)
				}
			}
		})
	}
}

// TestConsentAgain: a returning person whose grant is gone is sent back
// to Google to consent, which restores the refresh token.
func TestConsentAgain(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	first := browser(t)
	if res, body := callback(t, first, f.toCallback(t, first, "ada@example.com")); res.StatusCode != http.StatusFound {
		t.Fatalf("first sign-in: %d %s", res.StatusCode, body)
	}

	// Another browser, grant still good: Google gives no refresh token
	// and none is needed.
	second := browser(t)
	u := f.toCallback(t, second, "ada@example.com")
	if u.Query().Get("prompt") != "" {
		t.Fatal("prompt leaked into the callback")
	}
	res, body := callback(t, second, u)
	if res.StatusCode != http.StatusFound || sessionCookie(res) == nil {
		t.Fatalf("returning sign-in: %d %s", res.StatusCode, body)
	}

	// The grant is gone: the callback starts over with prompt=consent.
	f.pool.Exec(ctx, `update accounts set needs_reconsent = true`)
	third := browser(t)
	res, _ = callback(t, third, f.toCallback(t, third, "ada@example.com"))
	again := f.base + "/auth/google/login?" + url.Values{"prompt": {"consent"}, "returnTo": {f.base + "/home"}}.Encode()
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != again || sessionCookie(res) != nil {
		t.Fatalf("no refresh token and no grant: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	// Following it, the browser signs in with consent and the mark clears.
	page, err := third.Get(f.base + res.Header.Get("Location")[len(f.base):])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.Request.URL.RawQuery, "prompt=consent") {
		t.Fatalf("Google not asked for consent: %s", page.Request.URL)
	}
	final := testkit.Consent(t, third, page, "ada@example.com", true)
	final.Body.Close()
	if final.Request.URL.String() != f.base+"/home" {
		t.Fatalf("ended at %s", final.Request.URL)
	}
	var marked bool
	f.pool.QueryRow(ctx, `select needs_reconsent from accounts`).Scan(&marked)
	if marked {
		t.Fatal("consent did not clear the mark")
	}

	// A signed-in browser whose account lacks a grant is asked for consent
	// at login.
	f.pool.Exec(ctx, `update accounts set needs_reconsent = true`)
	noFollow := *first
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err = noFollow.Get(f.base + "/auth/google/login")
	if err != nil {
		t.Fatal(err)
	}
	if loc, _ := url.Parse(res.Header.Get("Location")); loc.Query().Get("prompt") != "consent" {
		t.Fatalf("login of a user without a grant: %s", loc)
	}
}

// TestRedirectThroughTransports: the callback's redirect and cookies come
// out the same through net/http and API Gateway, where Set-Cookie goes in
// the response's cookies.
func TestRedirectThroughTransports(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, tr := range testkit.Transports(f.server) {
		t.Run(tr.Name, func(t *testing.T) {
			client := browser(t)
			u := f.toCallback(t, client, "ada@example.com")
			r := httptest.NewRequest("GET", u.RequestURI(), nil)
			for _, c := range client.Jar.Cookies(u) {
				r.AddCookie(c)
			}
			res := tr.Do(t, r)
			if res.StatusCode != http.StatusFound || res.Header.Get("Location") != f.base+"/home" {
				t.Fatalf("got %d to %q", res.StatusCode, res.Header.Get("Location"))
			}
			names := map[string]bool{}
			for _, c := range res.Cookies() {
				names[c.Name] = c.Value != ""
			}
			if d := cmp.Diff(map[string]bool{auth.CookieName: true, signin.StateCookieName: false}, names); d != "" {
				t.Fatalf("cookies (name: has value) (-want +got):\n%s", d)
			}
		})
	}

	client := browser(t)
	u := f.toCallback(t, client, "grace@example.com")
	r := httptest.NewRequest("GET", u.RequestURI(), nil)
	for _, c := range client.Jar.Cookies(u) {
		r.AddCookie(c)
	}
	ev := f.server.ServeEvent(context.Background(), testkit.Event(t, r))
	if len(ev.Cookies) != 2 || ev.Headers["Set-Cookie"] != "" || ev.Headers["Location"] == "" {
		t.Fatalf("API Gateway response: cookies %d, headers %v", len(ev.Cookies), ev.Headers)
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	f := setup(t)
	client := browser(t)
	res, _ := callback(t, client, f.toCallback(t, client, "ada@example.com"))
	token := sessionCookie(res).Value

	get := func(c *http.Client, bearer string) int {
		r, _ := http.NewRequest("GET", f.base+"/v1/user", nil)
		if bearer != "" {
			r.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if get(client, "") != http.StatusOK || get(http.DefaultClient, token) != http.StatusOK {
		t.Fatal("not signed in")
	}

	// From another site, the browser's cookie is not enough.
	r, _ := http.NewRequest("POST", f.base+"/auth/logout", nil)
	r.Header.Set("Origin", "https://evil.example")
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	if res, _ := client.Do(r); res.StatusCode != http.StatusForbidden || get(client, "") != http.StatusOK {
		t.Fatalf("cross-site logout: %d", res.StatusCode)
	}

	r, _ = http.NewRequest("POST", f.base+"/auth/logout", nil)
	r.Header.Set("Origin", f.base)
	res, err := client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	base, _ := url.Parse(f.base)
	if len(client.Jar.Cookies(base)) != 0 {
		t.Fatalf("cookie kept after logout: %v", client.Jar.Cookies(base))
	}
	if get(http.DefaultClient, token) != http.StatusUnauthorized {
		t.Fatal("the session's token works after logout")
	}
	var n int
	f.pool.QueryRow(context.Background(), `select count(*) from sessions`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d sessions after logout", n)
	}
}

// TestSessionRefusals: an expired, revoked or tampered session is refused
// with 401 and nothing about the stored sessions changes.
func TestSessionRefusals(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	client := browser(t)
	res, _ := callback(t, client, f.toCallback(t, client, "ada@example.com"))
	live := sessionCookie(res).Value

	// Two more sessions, one expired and one revoked.
	userID := f.userOf(t, live)
	sessions := auth.NewSessions(f.pool)
	expired, s1, _ := sessions.Create(ctx, nil, userID, auth.Meta{})
	f.pool.Exec(ctx, `update sessions set expires_at = now() - interval '1 second' where id = $1`, s1.ID)
	revoked, s2, _ := sessions.Create(ctx, nil, userID, auth.Meta{})
	if err := sessions.Revoke(ctx, userID, s2.ID); err != nil {
		t.Fatal(err)
	}
	tampered := []byte(live)
	tampered[10] ^= 0x01

	snapshot := func() string {
		var s string
		f.pool.QueryRow(ctx, `select string_agg(id::text || xmin::text || last_used_at::text || expires_at::text, ',' order by id) from sessions`).Scan(&s)
		return s
	}
	before := snapshot()
	for name, token := range map[string]string{"expired": expired, "revoked": revoked, "tampered": string(tampered), "truncated": live[:20]} {
		for _, how := range []string{"cookie", "bearer"} {
			r := httptest.NewRequest("GET", "/v1/user", nil)
			if how == "cookie" {
				r.AddCookie(&http.Cookie{Name: auth.CookieName, Value: token})
			} else {
				r.Header.Set("Authorization", "Bearer "+token)
			}
			rec := httptest.NewRecorder()
			f.server.ServeHTTP(rec, r)
			if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "AUTHENTICATION_ERROR") || len(rec.Result().Cookies()) != 0 {
				t.Errorf("%s session by %s: %d %s", name, how, rec.Code, rec.Body)
			}
		}
	}
	if after := snapshot(); after != before {
		t.Fatalf("refused requests changed sessions:\n%s\n%s", before, after)
	}
}

func (f fixture) userOf(t *testing.T, token string) uuid.UUID {
	t.Helper()
	p, err := auth.NewSessions(f.pool).Resolve(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	return p.UserID
}

// TestSessionRenewal: a session used a day after its last renewal is
// renewed, and its cookie sent again; in between, requests write nothing.
func TestSessionRenewal(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	client := browser(t)
	res, _ := callback(t, client, f.toCallback(t, client, "ada@example.com"))
	token := sessionCookie(res).Value

	row := func() (xmin string, expires time.Time) {
		f.pool.QueryRow(ctx, `select xmin::text, expires_at from sessions`).Scan(&xmin, &expires)
		return
	}
	request := func() *http.Response {
		r := httptest.NewRequest("GET", "/v1/user", nil)
		r.AddCookie(&http.Cookie{Name: auth.CookieName, Value: token})
		rec := httptest.NewRecorder()
		f.server.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
		return rec.Result()
	}

	x0, _ := row()
	for range 3 {
		if c := sessionCookie(request()); c != nil {
			t.Fatal("cookie sent again within a day")
		}
	}
	if x1, _ := row(); x1 != x0 {
		t.Fatal("using a session within a day wrote its row")
	}

	f.pool.Exec(ctx, `update sessions set last_used_at = now() - interval '25 hours', expires_at = now() + interval '6 days'`)
	res = request()
	c := sessionCookie(res)
	_, expires := row()
	if c == nil || c.Value != token || time.Until(expires) < auth.SessionTTL-time.Minute {
		t.Fatalf("no renewal after a day: cookie %v, expires in %s", c, time.Until(expires))
	}
	if c.MaxAge < int((auth.SessionTTL - time.Minute).Seconds()) {
		t.Fatalf("renewed cookie max-age %d", c.MaxAge)
	}
	x2, _ := row()
	if sessionCookie(request()) != nil {
		t.Fatal("renewed twice")
	}
	if x3, _ := row(); x3 != x2 {
		t.Fatal("the request after a renewal wrote again")
	}
}

// syncJobs are the email-sync jobs waiting or running for the account of
// email, by their singleton key and payload.
func syncJobs(t *testing.T, pool *db.Pool, email string) (accountID uuid.UUID, keys []string) {
	t.Helper()
	ctx := context.Background()
	if err := pool.QueryRow(ctx, `select a.id from accounts a join users u on u.id = a.user_id where lower(u.email) = lower($1)`, email).
		Scan(&accountID); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, `select coalesce(singleton_key, '') from jobs
		where kind = $1 and state in ('pending', 'sent', 'running') and (payload->>'accountId')::uuid = $2`, catalog.EmailSync, accountID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return accountID, keys
}

// TestSignInStartsMailSync: signing in enqueues the account's first mail
// sync with the sign-in; signing in again while it waits adds none, and
// once it has run, the next sign-in starts another.
func TestSignInStartsMailSync(t *testing.T) {
	t.Parallel()
	f := setup(t)
	signIn := func() {
		t.Helper()
		client := browser(t)
		if res, body := callback(t, client, f.toCallback(t, client, "ada@example.com")); res.StatusCode != http.StatusFound {
			t.Fatalf("sign-in: %d %s", res.StatusCode, body)
		}
	}
	signIn()
	account, keys := syncJobs(t, f.pool, "ada@example.com")
	want := []string{"account:" + account.String()}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Fatalf("email-sync jobs after sign-in (-want +got):\n%s", diff)
	}
	var payload string
	f.pool.QueryRow(context.Background(), `select payload::text from jobs where kind = $1`, catalog.EmailSync).Scan(&payload)
	if strings.Contains(payload, `"full":true`) {
		t.Fatalf("payload %s", payload)
	}

	signIn()
	if _, keys := syncJobs(t, f.pool, "ada@example.com"); !cmp.Equal(want, keys) {
		t.Fatalf("email-sync jobs after a second sign-in: %v", keys)
	}

	if _, err := f.pool.Exec(context.Background(), `update jobs set state = 'succeeded', finished_at = now() where kind = $1`, catalog.EmailSync); err != nil {
		t.Fatal(err)
	}
	signIn()
	if _, keys := syncJobs(t, f.pool, "ada@example.com"); !cmp.Equal(want, keys) {
		t.Fatalf("email-sync jobs after signing in once the first ran: %v", keys)
	}
}

// TestSignInThroughARestart: a sign-in whose database connections the
// server ended (a restart or failover) completes on fresh ones.
func TestSignInThroughARestart(t *testing.T) {
	t.Parallel()
	f := setup(t)
	client := browser(t)
	u := f.toCallback(t, client, "ada@example.com")
	testkit.TerminateSessions(t, f.pool)
	res, body := callback(t, client, u)
	if res.StatusCode != http.StatusFound || sessionCookie(res) == nil {
		t.Fatalf("callback after a restart: %d %s", res.StatusCode, body)
	}
	if d := cmp.Diff(map[string]int{"users": 1, "accounts": 1, "sessions": 1}, counts(t, f.pool)); d != "" {
		t.Fatalf("rows (-want +got):\n%s", d)
	}
}

// TestSignInDatabaseUnavailable: a sign-in that cannot reach the database
// goes back to the web app with error=temporarily_unavailable (try again
// in a few seconds), not to a 500.
func TestSignInDatabaseUnavailable(t *testing.T) {
	t.Parallel()
	f := setup(t)
	client := browser(t)
	u := f.toCallback(t, client, "ada@example.com")
	f.pool.Close()
	res, body := callback(t, client, u)
	if want := f.base + "/home?error=temporarily_unavailable"; res.StatusCode != http.StatusFound || res.Header.Get("Location") != want {
		t.Fatalf("status %d to %q, want 302 to %q: %s", res.StatusCode, res.Header.Get("Location"), want, body)
	}
	if sessionCookie(res) != nil {
		t.Fatal("session cookie set")
	}
}

// TestSignInReturnsTo: returnTo is kept with the sign-in state and
// honoured after the callback, failures included; an unsafe one lands on
// the web app.
func TestSignInReturnsTo(t *testing.T) {
	t.Parallel()
	f := setup(t)
	login := func(returnTo string) string {
		return f.base + "/auth/google/login?" + url.Values{"returnTo": {returnTo}}.Encode()
	}
	for _, tt := range []struct{ returnTo, want string }{
		{"/contacts/123?tab=mail", f.base + "/contacts/123?tab=mail"},
		{webApp + "/app.html#contacts", webApp + "/app.html#contacts"},
		{"//evil.example/", f.base + "/home"},
		{"https://evil.example/", f.base + "/home"},
		{"/\\evil.example", f.base + "/home"},
	} {
		client := browser(t)
		u := f.toCallbackFrom(t, client, login(tt.returnTo), "ada@example.com")
		if strings.Contains(u.RawQuery, "returnTo") || strings.Contains(u.RawQuery, "evil") {
			t.Fatalf("returnTo travels through Google: %s", u)
		}
		res, body := callback(t, client, u)
		if res.StatusCode != http.StatusFound || res.Header.Get("Location") != tt.want || sessionCookie(res) == nil {
			t.Errorf("returnTo %q: %d to %q, want %q with a session: %s", tt.returnTo, res.StatusCode, res.Header.Get("Location"), tt.want, body)
		}
	}

	// Declined at Google: back to returnTo, with the error.
	client := browser(t)
	page, err := client.Get(login("/contacts/7"))
	if err != nil {
		t.Fatal(err)
	}
	stop := *client
	stop.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.URL.Path == "/auth/google/callback" {
			return http.ErrUseLastResponse
		}
		return nil
	}
	declined := testkit.Consent(t, &stop, page, "shy@example.com", false)
	u, _ := url.Parse(declined.Header.Get("Location"))
	res, _ := callback(t, client, u)
	if want := f.base + "/contacts/7?error=access_denied"; res.Header.Get("Location") != want {
		t.Fatalf("declined: to %q, want %q", res.Header.Get("Location"), want)
	}

	// Asked for consent again, the sign-in keeps its returnTo.
	first := browser(t)
	if res, body := callback(t, first, f.toCallback(t, first, "grace@example.com")); res.StatusCode != http.StatusFound {
		t.Fatalf("first sign-in: %d %s", res.StatusCode, body)
	}
	f.pool.Exec(context.Background(), `update accounts set needs_reconsent = true`)
	again := browser(t)
	res, _ = callback(t, again, f.toCallbackFrom(t, again, login(webApp+"/app.html"), "grace@example.com"))
	next, _ := url.Parse(res.Header.Get("Location"))
	if next.Query().Get("prompt") != "consent" || next.Query().Get("returnTo") != webApp+"/app.html" {
		t.Fatalf("consent again: to %s", next)
	}
	toApp := *again
	toApp.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host != "localhost:5173" {
			return nil
		}
		return http.ErrUseLastResponse
	}
	final := testkit.Consent(t, &toApp, mustGet(t, again, next.String()), "grace@example.com", true)
	final.Body.Close()
	if final.Header.Get("Location") != webApp+"/app.html" || sessionCookie(final) == nil {
		t.Fatalf("after consent: %d to %q", final.StatusCode, final.Header.Get("Location"))
	}
}

func mustGet(t *testing.T, c *http.Client, u string) *http.Response {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestLogoutReturnsTo: with returnTo, signing out sends the browser on
// (303) by the same rules; without, it answers 204.
func TestLogoutReturnsTo(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, tt := range []struct{ returnTo, want string }{
		{"/signed-out", f.base + "/signed-out"},
		{webApp + "/bye", webApp + "/bye"},
		{"//evil.example", f.base + "/home"},
	} {
		client := browser(t)
		res, _ := callback(t, client, f.toCallback(t, client, "ada@example.com"))
		token := sessionCookie(res).Value
		r, _ := http.NewRequest("POST", f.base+"/auth/logout?"+url.Values{"returnTo": {tt.returnTo}}.Encode(), nil)
		r.Header.Set("Origin", webApp)
		r.Header.Set("Sec-Fetch-Site", "same-site")
		noFollow := *client
		noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		res, err := noFollow.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != tt.want {
			t.Errorf("logout returnTo %q: %d to %q, want 303 to %q", tt.returnTo, res.StatusCode, res.Header.Get("Location"), tt.want)
		}
		if _, err := auth.NewSessions(f.pool).Resolve(context.Background(), token); err == nil {
			t.Errorf("logout returnTo %q: the session still works", tt.returnTo)
		}
	}
}

// fixtureTricks are open-redirect tricks aimed at this fixture's own API
// and web app origins, besides the generic ones.
func (f fixture) fixtureTricks() []string {
	host := strings.TrimPrefix(f.base, "http://")
	return append(append([]string(nil), openRedirectTricks...),
		f.base+"@evil.example/",
		"http://evil.example@"+host+"/",
		"http://user:pass@"+host+"/home",
		"https://"+host+"/home",
		f.base+"//evil.example",
		f.base+"/%2F%2Fevil.example",
		webApp+"//evil.example",
		webApp+"\\@evil.example",
		webApp+".evil.example/",
		"//"+host+"/home",
	)
}

// TestOpenRedirectOnSignIn: every known trick given to GET
// /auth/google/login as returnTo lands on the web app after the callback,
// signed in, and never on another site.
func TestOpenRedirectOnSignIn(t *testing.T) {
	t.Parallel()
	f := setup(t)
	want := f.base + "/home"
	for _, trick := range f.fixtureTricks() {
		client := browser(t)
		u := f.toCallbackFrom(t, client, f.base+"/auth/google/login?"+url.Values{"returnTo": {trick}}.Encode(), "ada@example.com")
		res, body := callback(t, client, u)
		if res.StatusCode != http.StatusFound || res.Header.Get("Location") != want || sessionCookie(res) == nil {
			t.Errorf("sign-in with returnTo %q: %d to %q, want %q: %s", trick, res.StatusCode, res.Header.Get("Location"), want, body)
		}
	}
}

// TestOpenRedirectOnSignOut: every known trick given to POST /auth/logout
// as returnTo sends the browser to the web app (303), and the session
// ends; an empty returnTo is no returnTo (204, no Location).
func TestOpenRedirectOnSignOut(t *testing.T) {
	t.Parallel()
	f := setup(t)
	want := f.base + "/home"
	for _, trick := range f.fixtureTricks() {
		_, token := testkit.User(t, f.pool, uuid.NewString()+"@example.com")
		r, _ := http.NewRequest("POST", f.base+"/auth/logout?"+url.Values{"returnTo": {trick}}.Encode(), nil)
		r.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultTransport.RoundTrip(r)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		wantStatus, wantLocation := http.StatusSeeOther, want
		if trick == "" {
			wantStatus, wantLocation = http.StatusNoContent, ""
		}
		if res.StatusCode != wantStatus || res.Header.Get("Location") != wantLocation {
			t.Errorf("sign-out with returnTo %q: %d to %q, want %d to %q", trick, res.StatusCode, res.Header.Get("Location"), wantStatus, wantLocation)
		}
		if _, err := auth.NewSessions(f.pool).Resolve(context.Background(), token); err == nil {
			t.Errorf("sign-out with returnTo %q: the session still works", trick)
		}
	}
}
