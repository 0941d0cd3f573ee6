package api_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/feature"
	"github.com/personalcrm/core/shared/testkit"
)

// renewingSessions accepts "good-token-0123456789", renewed when asked,
// with the user's own ai-agents flag on, and counts its calls.
type renewingSessions struct {
	renew   bool
	expires time.Time
	calls   atomic.Int32
}

func (f *renewingSessions) Resolve(_ context.Context, token string) (auth.Principal, error) {
	f.calls.Add(1)
	if token != "good-token-0123456789" {
		return auth.Principal{}, errs.Unauthenticated("Authentication required")
	}
	return auth.Principal{UserID: uuid.MustParse("0192a000-0000-7000-8000-000000000001"), Renewed: f.renew, ExpiresAt: f.expires,
		Features: map[string]bool{"ai-agents": true, "webhooks": true}}, nil
}

type flagsOutput struct {
	Body struct {
		AIAgents bool `json:"aiAgents"`
		Webhooks bool `json:"webhooks"`
	}
}

func sessionServer(sessions api.Authenticator) *api.Server {
	authURL, _ := url.Parse("https://api.example.com")
	web, _ := url.Parse("https://app.example.com/signed-in")
	cfg := &config.Config{Env: config.Production, AuthURL: authURL, AuthRedirectURL: web,
		CORSOrigins: []string{"https://admin.example.com"}, Features: config.Features{AIAgents: true}}
	h := func(ctx context.Context, _ *struct{}) (*flagsOutput, error) {
		out := &flagsOutput{}
		out.Body.AIAgents = feature.Enabled(ctx, feature.AIAgents)
		out.Body.Webhooks = feature.Enabled(ctx, feature.Webhooks)
		return out, nil
	}
	return api.NewServer(api.Options{Sessions: sessions}.WithConfig(cfg),
		api.Handle(catalog.ContactsList, h), api.Handle(catalog.ContactsCreate, h))
}

const cookieName = "__Host-crm_session"

func TestCrossSiteCookieRequests(t *testing.T) {
	sessions := &renewingSessions{}
	s := sessionServer(sessions)
	tests := []struct {
		name    string
		method  string
		bearer  bool
		headers map[string]string
		want    int
	}{
		{"cookie post without origin", "POST", false, nil, http.StatusForbidden},
		{"cookie post cross-site", "POST", false, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, http.StatusForbidden},
		{"cookie post from another origin, old browser", "POST", false, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"cookie post from null origin", "POST", false, map[string]string{"Origin": "null"}, http.StatusForbidden},
		{"cookie post same-origin", "POST", false, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "https://api.example.com"}, http.StatusOK},
		{"cookie post origin matches host", "POST", false, map[string]string{"Origin": "https://api.example.com"}, http.StatusOK},
		{"cookie post from the web app", "POST", false, map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://app.example.com"}, http.StatusOK},
		{"cookie post from an allowed origin", "POST", false, map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://admin.example.com"}, http.StatusOK},
		{"cookie post from a same-site origin not allowed", "POST", false, map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://other.example.com"}, http.StatusForbidden},
		{"cookie get cross-site", "GET", false, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, http.StatusOK},
		{"bearer post cross-site", "POST", true, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, http.StatusOK},
		{"bearer post without origin", "POST", true, nil, http.StatusOK},
	}
	for _, tr := range testkit.Transports(s) {
		for _, tt := range tests {
			t.Run(tr.Name+"/"+tt.name, func(t *testing.T) {
				token := ""
				if tt.bearer {
					token = "good-token-0123456789"
				}
				r := testkit.Request(tt.method, "/v1/contacts", token, map[string]string{})
				r.Host = "api.example.com"
				if !tt.bearer {
					r.Header.Set("Cookie", cookieName+"=good-token-0123456789")
				}
				for k, v := range tt.headers {
					r.Header.Set(k, v)
				}
				before := sessions.calls.Load()
				res := tr.Do(t, r)
				body := testkit.ReadJSON(t, res, nil)
				if res.StatusCode != tt.want {
					t.Fatalf("status %d, want %d: %s", res.StatusCode, tt.want, body)
				}
				if tt.want == http.StatusForbidden && (!strings.Contains(string(body), "FORBIDDEN") || sessions.calls.Load() != before) {
					t.Fatalf("refused request: body %s; session resolved %d times", body, sessions.calls.Load()-before)
				}
			})
		}
	}
}

func TestRenewedSessionCookie(t *testing.T) {
	expires := time.Now().Add(auth.SessionTTL).Truncate(time.Second)
	for _, renew := range []bool{false, true} {
		s := sessionServer(&renewingSessions{renew: renew, expires: expires})
		for _, tr := range testkit.Transports(s) {
			r := testkit.Request("GET", "/v1/contacts", "", nil)
			r.Header.Set("Cookie", cookieName+"=good-token-0123456789")
			res := tr.Do(t, r)
			var out flagsOutput
			testkit.ReadJSON(t, res, &out.Body)
			if res.StatusCode != http.StatusOK || !out.Body.AIAgents || out.Body.Webhooks {
				t.Fatalf("%s: status %d, flags %+v (want ai-agents on, webhooks gated off)", tr.Name, res.StatusCode, out.Body)
			}
			cookies := res.Cookies()
			if !renew {
				if len(cookies) != 0 {
					t.Fatalf("%s: cookie sent for a session that was not renewed: %v", tr.Name, cookies)
				}
				continue
			}
			if len(cookies) != 1 {
				t.Fatalf("%s: renewed session: cookies %v", tr.Name, res.Header.Values("Set-Cookie"))
			}
			c := cookies[0]
			if c.Name != cookieName || c.Value != "good-token-0123456789" || !c.Secure || !c.HttpOnly || c.Path != "/" ||
				c.SameSite != http.SameSiteLaxMode || !c.Expires.Equal(expires) || c.MaxAge < int(auth.SessionTTL.Seconds())-5 {
				t.Fatalf("%s: renewed cookie %s", tr.Name, res.Header.Get("Set-Cookie"))
			}
		}
	}

	// A Bearer session is renewed too, but there is no cookie to send.
	s := sessionServer(&renewingSessions{renew: true, expires: expires})
	res := testkit.Transports(s)[0].Do(t, testkit.Request("GET", "/v1/contacts", "good-token-0123456789", nil))
	if res.StatusCode != http.StatusOK || len(res.Cookies()) != 0 {
		t.Fatalf("bearer request: %d, cookies %v", res.StatusCode, res.Cookies())
	}
}
