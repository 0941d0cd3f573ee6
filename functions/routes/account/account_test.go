package account_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/personalcrm/core/functions/routes/account"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/user"
	"github.com/personalcrm/core/shared/feature"
	"github.com/personalcrm/core/shared/testkit"
)

type fixture struct {
	pool           *db.Pool
	server         *api.Server
	alice, bob     string // tokens
	aliceID, bobID uuid.UUID
}

func setup(t *testing.T) fixture {
	t.Helper()
	pool := testkit.DB(t)
	sessions := auth.NewSessions(pool)
	users := user.NewService(pool)
	gates := feature.GatesOf(config.Features{AIAgents: true, Enrichment: true})
	srv := api.NewServer(api.Options{Sessions: sessions, Features: gates},
		account.Get(users), account.Update(users), account.Features(),
		account.SessionsList(sessions), account.SessionsRevoke(sessions))
	f := fixture{pool: pool, server: srv}
	f.aliceID, f.alice = testkit.User(t, pool, "alice@example.com")
	f.bobID, f.bob = testkit.User(t, pool, "bob@example.com")
	return f
}

type envelope struct {
	Error struct {
		Code   string              `json:"code"`
		Fields map[string][]string `json:"fields"`
	} `json:"error"`
}

func TestGetAndUpdate(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, tr := range testkit.Transports(f.server) {
		t.Run(tr.Name, func(t *testing.T) {
			res := tr.Do(t, testkit.Request("GET", "/v1/user", f.alice, nil))
			var u account.User
			testkit.ReadJSON(t, res, &u)
			if res.StatusCode != http.StatusOK || u.ID != f.aliceID || u.Email != "alice@example.com" || u.NeedsReconsent {
				t.Fatalf("get: %d %+v", res.StatusCode, u)
			}

			res = tr.Do(t, testkit.Request("PATCH", "/v1/user", f.alice, map[string]any{"name": "  Alice Liddell ", "imageUrl": "https://example.com/a.png"}))
			testkit.ReadJSON(t, res, &u)
			if res.StatusCode != http.StatusOK || u.Name == nil || *u.Name != "Alice Liddell" || u.ImageURL == nil {
				t.Fatalf("update: %d %+v", res.StatusCode, u)
			}
			// Absent fields stay; null clears.
			res = tr.Do(t, testkit.Request("PATCH", "/v1/user", f.alice, map[string]any{"imageUrl": nil}))
			testkit.ReadJSON(t, res, &u)
			if res.StatusCode != http.StatusOK || u.Name == nil || u.ImageURL != nil {
				t.Fatalf("clear image: %d %+v", res.StatusCode, u)
			}
		})
	}

	var bobBefore string
	f.pool.QueryRow(context.Background(), `select row_to_json(u)::text from users u where id = $1`, f.bobID).Scan(&bobBefore)
	bad := []struct {
		name  string
		body  any
		field string
	}{
		{"name too long", map[string]any{"name": string(make([]rune, 201))}, "name"},
		{"image not https", map[string]any{"imageUrl": "http://example.com/a.png"}, "imageUrl"},
		{"image not a URL", map[string]any{"imageUrl": "javascript:alert(1)"}, "imageUrl"},
		{"email is not editable", map[string]any{"email": "mallory@example.com"}, "email"},
		{"name not a string", map[string]any{"name": 7}, "name"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			var before, after string
			f.pool.QueryRow(context.Background(), `select row_to_json(u)::text from users u where id = $1`, f.aliceID).Scan(&before)
			res := testkit.Transports(f.server)[0].Do(t, testkit.Request("PATCH", "/v1/user", f.alice, tt.body))
			var env envelope
			testkit.ReadJSON(t, res, &env)
			if res.StatusCode != http.StatusBadRequest || env.Error.Code != "VALIDATION_ERROR" || len(env.Error.Fields[tt.field]) == 0 {
				t.Fatalf("got %d %+v", res.StatusCode, env)
			}
			f.pool.QueryRow(context.Background(), `select row_to_json(u)::text from users u where id = $1`, f.aliceID).Scan(&after)
			if before != after {
				t.Fatalf("refused update changed the user:\n%s\n%s", before, after)
			}
		})
	}
	var bobAfter string
	f.pool.QueryRow(context.Background(), `select row_to_json(u)::text from users u where id = $1`, f.bobID).Scan(&bobAfter)
	if bobBefore != bobAfter {
		t.Fatal("alice's updates changed bob")
	}
}

func TestFeatures(t *testing.T) {
	t.Parallel()
	f := setup(t)
	settings := feature.NewSettings(f.pool)
	ctx := context.Background()
	settings.Set(ctx, f.aliceID, feature.AIAgents, true)
	settings.Set(ctx, f.aliceID, feature.Webhooks, true) // gated off in this environment
	settings.Set(ctx, f.aliceID, feature.Enrichment, false)

	for _, tr := range testkit.Transports(f.server) {
		res := tr.Do(t, testkit.Request("GET", "/v1/user/features", f.alice, nil))
		var out struct {
			Features map[string]bool `json:"features"`
		}
		testkit.ReadJSON(t, res, &out)
		want := map[string]bool{"ai-agents": true, "enrichment": false, "webhooks": false}
		if d := cmp.Diff(want, out.Features); res.StatusCode != http.StatusOK || d != "" {
			t.Fatalf("%s: %d (-want +got):\n%s", tr.Name, res.StatusCode, d)
		}
		res = tr.Do(t, testkit.Request("GET", "/v1/user/features", f.bob, nil))
		testkit.ReadJSON(t, res, &out)
		if out.Features["ai-agents"] {
			t.Fatalf("%s: bob has alice's flag", tr.Name)
		}
	}
}

func TestSessions(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	second, s2, err := auth.NewSessions(f.pool).Create(ctx, nil, f.aliceID, auth.Meta{UserAgent: "phone", IP: "203.0.113.7"})
	if err != nil {
		t.Fatal(err)
	}
	var bobSession uuid.UUID
	f.pool.QueryRow(ctx, `select id from sessions where user_id = $1`, f.bobID).Scan(&bobSession)

	tr := testkit.Transports(f.server)[1] // through API Gateway
	res := tr.Do(t, testkit.Request("GET", "/v1/user/sessions", second, nil))
	var list struct {
		Items      []account.Session `json:"items"`
		NextCursor *string           `json:"nextCursor"`
	}
	testkit.ReadJSON(t, res, &list)
	if res.StatusCode != http.StatusOK || len(list.Items) != 2 || list.NextCursor != nil {
		t.Fatalf("list: %d %+v", res.StatusCode, list)
	}
	if !list.Items[0].Current || list.Items[0].ID != s2.ID || *list.Items[0].UserAgent != "phone" || list.Items[1].Current {
		t.Fatalf("newest first, the calling one current: %+v", list.Items)
	}
	for _, s := range list.Items {
		if s.ID == bobSession {
			t.Fatal("bob's session listed for alice")
		}
	}

	res = tr.Do(t, testkit.Request("DELETE", "/v1/user/sessions/"+bobSession.String(), f.alice, nil))
	testkit.ReadJSON(t, res, nil)
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("revoking bob's session as alice: %d", res.StatusCode)
	}
	if res := tr.Do(t, testkit.Request("GET", "/v1/user", f.bob, nil)); res.StatusCode != http.StatusOK {
		t.Fatal("bob signed out by alice")
	}

	res = tr.Do(t, testkit.Request("DELETE", "/v1/user/sessions/"+s2.ID.String(), f.alice, nil))
	testkit.ReadJSON(t, res, nil)
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %d", res.StatusCode)
	}
	if res := tr.Do(t, testkit.Request("GET", "/v1/user", second, nil)); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("revoked session still works: %d", res.StatusCode)
	}
	if res := tr.Do(t, testkit.Request("GET", "/v1/user", f.alice, nil)); res.StatusCode != http.StatusOK {
		t.Fatalf("alice's other session ended too: %d", res.StatusCode)
	}
	res = tr.Do(t, testkit.Request("DELETE", "/v1/user/sessions/not-a-uuid", f.alice, nil))
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad id: %d", res.StatusCode)
	}
}

// Signing out everywhere ends every session of the caller at once, the
// calling one included, even where the sessions are served from the cache
// (real Redis); the other user stays signed in.
func TestSessionsRevokeAll(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testkit.DB(t)
	sessions := auth.NewCachedSessions(auth.NewSessions(pool), testkit.Redis(t, cache.Options{}),
		auth.CacheOptions{Secret: []byte("test-auth-secret-of-at-least-32-characters")})
	cookie := auth.SessionCookie(&url.URL{Scheme: "http", Host: "localhost:3000"}, false)
	srv := api.NewServer(api.Options{Sessions: sessions},
		account.Get(user.NewService(pool)), account.SessionsRevokeAll(sessions, cookie))
	aliceID, alice := testkit.User(t, pool, "alice@example.com")
	bobID, bob := testkit.User(t, pool, "bob@example.com")
	phone, _, err := auth.NewSessions(pool).Create(ctx, nil, aliceID, auth.Meta{UserAgent: "phone"})
	if err != nil {
		t.Fatal(err)
	}

	tr := testkit.Transports(srv)[1] // through API Gateway
	status := func(token string) int {
		t.Helper()
		res := tr.Do(t, testkit.Request("GET", "/v1/user", token, nil))
		testkit.ReadJSON(t, res, nil)
		return res.StatusCode
	}
	// Each token resolved once: its session is in the cache now.
	for _, tok := range []string{alice, phone, bob} {
		if got := status(tok); got != http.StatusOK {
			t.Fatalf("before: %d", got)
		}
	}

	res := tr.Do(t, testkit.Request("POST", "/v1/user/sessions/revoke-all", phone, nil))
	testkit.ReadJSON(t, res, nil)
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke-all: %d", res.StatusCode)
	}
	if sc := res.Header.Get("Set-Cookie"); !strings.HasPrefix(sc, cookie.Name+"=;") || !strings.Contains(sc, "Max-Age=0") {
		t.Errorf("revoke-all does not delete the session cookie: Set-Cookie %q", sc)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	for name, tok := range map[string]string{"the calling session": phone, "alice's other session": alice} {
		if got := status(tok); got != http.StatusUnauthorized {
			t.Errorf("%s after revoke-all: %d, want 401 at once", name, got)
		}
	}
	if got := status(bob); got != http.StatusOK {
		t.Errorf("bob after alice signed out everywhere: %d", got)
	}
	var aliceLeft, bobLeft int
	pool.QueryRow(ctx, `select count(*) filter (where user_id = $1), count(*) filter (where user_id = $2) from sessions`,
		aliceID, bobID).Scan(&aliceLeft, &bobLeft)
	if aliceLeft != 0 || bobLeft != 1 {
		t.Errorf("sessions left: alice %d (want 0), bob %d (want 1)", aliceLeft, bobLeft)
	}

	// Without a live session: 401, nothing changes.
	res = tr.Do(t, testkit.Request("POST", "/v1/user/sessions/revoke-all", phone, nil))
	var env envelope
	testkit.ReadJSON(t, res, &env)
	if res.StatusCode != http.StatusUnauthorized || env.Error.Code != "AUTHENTICATION_ERROR" {
		t.Errorf("revoke-all with an ended session: %d %+v", res.StatusCode, env)
	}
}
