package webhooks_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/functions/routes/webhooks"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/feature"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/ratelimit"
	"github.com/personalcrm/core/shared/sandbox"
	"github.com/personalcrm/core/shared/testkit"
)

const (
	audience       = "https://api.example.com/webhooks/gmail"
	serviceAccount = "gmail-push@crm-project.iam.gserviceaccount.com"
	subscription   = "projects/crm-project/subscriptions/gmail-push"
)

type fixture struct {
	pool    *db.Pool
	google  *sandbox.Google
	server  *api.Server
	off     *api.Server
	alice   uuid.UUID
	account uuid.UUID
}

func setup(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	pool := testkit.DB(t)
	kit := testkit.StartGoogleKit(t, pool, sandbox.GoogleOptions{})
	v, err := webhooks.NewPushVerifier(ctx, webhooks.PushOptions{
		Audience: audience, ServiceAccount: serviceAccount, Subscription: subscription,
		Certs: google.SandboxEndpoints(kit.Sandbox.URL()).Certs,
	})
	if err != nil {
		t.Fatal(err)
	}
	syncs := email.NewSyncs(pool, queue.New(pool, queue.NewMemory(queue.MemoryOptions{}), nil))
	alice, _, account := kit.Account(t, pool, "alice@example.com")
	// Bob's mailbox can sync, but Bob has not turned push on.
	kit.Account(t, pool, "bob@example.com")
	if _, err := feature.NewSettings(pool).Set(ctx, alice, feature.Webhooks, true); err != nil {
		t.Fatal(err)
	}
	return fixture{
		pool: pool, google: kit.Sandbox, alice: alice, account: account,
		server: api.NewServer(api.Options{}, webhooks.Gmail(webhooks.GmailDeps{Enabled: true, Verifier: v, Syncs: syncs})),
		off:    api.NewServer(api.Options{}, webhooks.Gmail(webhooks.GmailDeps{Enabled: false, Verifier: v, Syncs: syncs})),
	}
}

// push is a Pub/Sub push delivery of Gmail's notification for mailbox.
func push(mailbox string) map[string]any {
	return pushData(`{"emailAddress":"` + mailbox + `","historyId":9876543}`)
}

func pushData(data string) map[string]any {
	return map[string]any{
		"message": map[string]any{
			"data":      base64.StdEncoding.EncodeToString([]byte(data)),
			"messageId": "2070443601311540", "message_id": "2070443601311540",
			"publishTime": "2026-11-26T10:00:00.000Z", "publish_time": "2026-11-26T10:00:00.000Z",
		},
		"subscription": subscription,
	}
}

// from is the push delivery body as another subscription sends it.
func from(sub string, body map[string]any) map[string]any {
	body["subscription"] = sub
	if sub == "" {
		delete(body, "subscription")
	}
	return body
}

func (f fixture) token(p sandbox.PushToken) string {
	if p.Audience == "" {
		p.Audience = audience
	}
	if p.Email == "" {
		p.Email = serviceAccount
	}
	return f.google.PushToken(p)
}

func (f fixture) syncJobs(t *testing.T) []email.SyncJob {
	t.Helper()
	rows, err := f.pool.Query(context.Background(), `select payload, singleton_key from jobs where kind = 'email-sync' order by created_at`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []email.SyncJob
	for rows.Next() {
		var p email.SyncJob
		var key string
		if err := rows.Scan(&p, &key); err != nil {
			t.Fatal(err)
		}
		if key != email.SyncKey(p.AccountID) {
			t.Errorf("singleton key %q, want %q", key, email.SyncKey(p.AccountID))
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPushEnqueuesOneSync(t *testing.T) {
	t.Parallel()
	f := setup(t)
	want := email.SyncJob{UserID: f.alice, AccountID: f.account}
	for _, tr := range testkit.Transports(f.server) {
		t.Run(tr.Name, func(t *testing.T) {
			// Pub/Sub redelivers: the second push finds the first's sync
			// waiting and adds none. The address's case does not matter.
			// The history id may come as a string.
			for mailbox, body := range map[string]map[string]any{
				"alice@example.com": push("alice@example.com"),
				"Alice@Example.COM": pushData(`{"emailAddress":"Alice@Example.COM","historyId":"9876544"}`),
			} {
				res := tr.Do(t, testkit.Request("POST", "/webhooks/gmail", f.token(sandbox.PushToken{}), body))
				raw := testkit.ReadJSON(t, res, nil)
				if res.StatusCode != http.StatusNoContent {
					t.Fatalf("push for %s: %d %s", mailbox, res.StatusCode, raw)
				}
				if got := f.syncJobs(t); len(got) != 1 || got[0] != want {
					t.Fatalf("after push for %s: jobs %+v, want one %+v", mailbox, got, want)
				}
			}
		})
	}
}

func TestPushRefused(t *testing.T) {
	t.Parallel()
	f := setup(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	valid := f.token(sandbox.PushToken{})
	cases := map[string]struct {
		server *api.Server
		token  string
		body   any
		status int
		code   string
	}{
		"no token":            {f.server, "", push("alice@example.com"), http.StatusUnauthorized, "AUTHENTICATION_ERROR"},
		"not a JWT":           {f.server, "not-a-token", push("alice@example.com"), http.StatusUnauthorized, "AUTHENTICATION_ERROR"},
		"wrong audience":      {f.server, f.token(sandbox.PushToken{Audience: "https://elsewhere.example.com/push"}), push("alice@example.com"), http.StatusUnauthorized, "AUTHENTICATION_ERROR"},
		"expired":             {f.server, f.token(sandbox.PushToken{Expires: time.Now().Add(-time.Minute)}), push("alice@example.com"), http.StatusUnauthorized, "AUTHENTICATION_ERROR"},
		"signed by other key": {f.server, f.token(sandbox.PushToken{Key: other}), push("alice@example.com"), http.StatusUnauthorized, "AUTHENTICATION_ERROR"},
		"not Google's issuer": {f.server, f.token(sandbox.PushToken{Issuer: "https://evil.example.com"}), push("alice@example.com"), http.StatusUnauthorized, "AUTHENTICATION_ERROR"},
		"unverified email":    {f.server, f.token(sandbox.PushToken{EmailUnverified: true}), push("alice@example.com"), http.StatusUnauthorized, "AUTHENTICATION_ERROR"},
		"other service account": {f.server, f.token(sandbox.PushToken{Email: "someone@crm-project.iam.gserviceaccount.com"}),
			push("alice@example.com"), http.StatusUnauthorized, "AUTHENTICATION_ERROR"},
		"not JSON":         {f.server, valid, "{", http.StatusBadRequest, "VALIDATION_ERROR"},
		"no message":       {f.server, valid, map[string]any{"subscription": "s"}, http.StatusBadRequest, "VALIDATION_ERROR"},
		"data not base64":  {f.server, valid, map[string]any{"message": map[string]any{"data": "%%%"}, "subscription": subscription}, http.StatusBadRequest, "VALIDATION_ERROR"},
		"data not Gmail's": {f.server, valid, pushData(`{"hello":1}`), http.StatusBadRequest, "VALIDATION_ERROR"},
		"history not a number": {f.server, valid, pushData(`{"emailAddress":"alice@example.com","historyId":"soon"}`),
			http.StatusBadRequest, "VALIDATION_ERROR"},
		// A token of the right service account, for the right audience,
		// on a delivery of another subscription (another topic's).
		"other subscription": {f.server, valid, from("projects/crm-project/subscriptions/other-push", push("alice@example.com")),
			http.StatusForbidden, "FORBIDDEN"},
		"no subscription":         {f.server, valid, from("", push("alice@example.com")), http.StatusForbidden, "FORBIDDEN"},
		"unknown mailbox":         {f.server, valid, push("nobody@example.com"), http.StatusNoContent, ""},
		"mailbox without push on": {f.server, valid, push("bob@example.com"), http.StatusNoContent, ""},
		"gate off":                {f.off, valid, push("alice@example.com"), http.StatusForbidden, "FORBIDDEN"},
	}
	for name, c := range cases {
		for _, tr := range testkit.Transports(c.server) {
			t.Run(name+"/"+tr.Name, func(t *testing.T) {
				res := tr.Do(t, testkit.Request("POST", "/webhooks/gmail", c.token, c.body))
				raw := testkit.ReadJSON(t, res, nil)
				if res.StatusCode != c.status || !strings.Contains(string(raw), c.code) {
					t.Fatalf("got %d %s, want %d %s", res.StatusCode, raw, c.status, c.code)
				}
				if strings.Contains(string(raw), valid) {
					t.Fatal("the answer repeats the token")
				}
			})
		}
	}
	if got := f.syncJobs(t); len(got) != 0 {
		t.Fatalf("jobs %+v, want none", got)
	}
}

// TestVerifierFromConfig: the function's configuration gives a verifier
// of tokens for GOOGLE_WEBHOOK_URL signed by the configured sandbox
// Google, and none without GOOGLE_WEBHOOK_URL.
func TestVerifierFromConfig(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := testkit.StartGoogle(t, sandbox.GoogleOptions{})
	load := func(env map[string]string) *config.Config {
		t.Helper()
		env["AUTH_URL"] = "http://127.0.0.1:1"
		cfg, err := config.Load(ctx, catalog.MustLookup(catalog.WebhooksGmail), config.WithEnv(env))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	if v, err := webhooks.VerifierFromConfig(ctx, load(map[string]string{}), nil); err != nil {
		t.Fatalf("without GOOGLE_WEBHOOK_URL: %v", err)
	} else if v != nil {
		t.Fatalf("without GOOGLE_WEBHOOK_URL: verifier %v, want none", v)
	}
	v, err := webhooks.VerifierFromConfig(ctx, load(map[string]string{
		"GOOGLE_WEBHOOK_URL": audience, "GOOGLE_SANDBOX_URL": g.URL(), "GOOGLE_PUSH_SERVICE_ACCOUNT": serviceAccount,
		"GOOGLE_PUBSUB_SUBSCRIPTION": subscription,
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(ctx, g.PushToken(sandbox.PushToken{Audience: audience, Email: serviceAccount}), subscription); err != nil {
		t.Fatalf("a sandbox push token: %v", err)
	}
	if err := v.Verify(ctx, g.PushToken(sandbox.PushToken{Audience: audience, Email: "other@example.com"}), subscription); err == nil {
		t.Fatal("a token of another service account verified")
	}
	if err := v.Verify(ctx, g.PushToken(sandbox.PushToken{Audience: audience, Email: serviceAccount}), "projects/crm-project/subscriptions/x-push"); !errs.Is(err, errs.KindForbidden) {
		t.Fatalf("a delivery of another subscription: %v", err)
	}
}

// TestPushRateLimitedPerIP: the public push route is limited per client
// IP, before any token is checked.
func TestPushRateLimitedPerIP(t *testing.T) {
	t.Parallel()
	f := setup(t)
	fn := catalog.MustLookup(catalog.WebhooksGmail)
	if fn.Limit == nil {
		t.Fatal("webhooks-gmail has no rate limit in the catalog")
	}
	syncs := email.NewSyncs(f.pool, queue.New(f.pool, queue.NewMemory(queue.MemoryOptions{}), nil))
	v, err := webhooks.NewPushVerifier(context.Background(), webhooks.PushOptions{Audience: audience, ServiceAccount: serviceAccount,
		Certs: google.SandboxEndpoints(f.google.URL()).Certs})
	if err != nil {
		t.Fatal(err)
	}
	// On fake time, so that the limit does not refill however slowly the
	// pushes are sent (under the race detector, on a busy machine).
	synctest.Test(t, func(t *testing.T) {
		limiter := ratelimit.New(cache.New(cache.NewMemory(0), cache.Options{}), nil, nil)
		srv := api.NewServer(api.Options{Limiter: limiter}, webhooks.Gmail(webhooks.GmailDeps{Enabled: true, Verifier: v, Syncs: syncs}))
		send := func(ip string) int {
			r := testkit.Request("POST", "/webhooks/gmail", "forged", push("alice@example.com"))
			r.RemoteAddr = ip + ":443"
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, r)
			return rec.Code
		}
		burst := ratelimit.Rate(*fn.Limit).Burst
		for i := 0; i < burst; i++ {
			if code := send("192.0.2.10"); code != http.StatusUnauthorized {
				t.Fatalf("push %d: %d, want 401 for a forged token", i+1, code)
			}
		}
		if code := send("192.0.2.10"); code != http.StatusTooManyRequests {
			t.Fatalf("push %d from one address: %d, want 429", burst+1, code)
		}
		if code := send("192.0.2.11"); code != http.StatusUnauthorized {
			t.Fatalf("another address: %d", code)
		}
	})
}

// countingTransport counts the requests it sends.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// TestVerifierKeys: Google's keys are fetched once and kept, not per push;
// Google's issuer is accepted with or without its scheme; a token that is
// not RS256-signed is refused.
func TestVerifierKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := testkit.StartGoogle(t, sandbox.GoogleOptions{})
	fetches := &countingTransport{}
	v, err := webhooks.NewPushVerifier(ctx, webhooks.PushOptions{Audience: audience, ServiceAccount: serviceAccount,
		Certs: google.SandboxEndpoints(g.URL()).Certs, HTTP: &http.Client{Transport: fetches, Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if n := fetches.n.Load(); n != 0 {
		t.Fatalf("%d key fetches before the first push, want none", n)
	}
	for _, iss := range []string{"https://accounts.google.com", "accounts.google.com", "https://accounts.google.com"} {
		if err := v.Verify(ctx, g.PushToken(sandbox.PushToken{Audience: audience, Email: serviceAccount, Issuer: iss}), ""); err != nil {
			t.Fatalf("issuer %s: %v", iss, err)
		}
	}
	if n := fetches.n.Load(); n != 1 {
		t.Fatalf("%d key fetches for three pushes, want 1", n)
	}
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	claims := enc(`{"iss":"https://accounts.google.com","aud":"` + audience + `","email":"` + serviceAccount +
		`","email_verified":true,"exp":` + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + `}`)
	for name, tok := range map[string]string{
		"alg none":           enc(`{"alg":"none","typ":"JWT"}`) + "." + claims + ".",
		"HS256":              enc(`{"alg":"HS256","typ":"JWT","kid":"sandbox-1"}`) + "." + claims + "." + enc("mac"),
		"email not verified": g.PushToken(sandbox.PushToken{Audience: audience, Email: serviceAccount, EmailUnverified: true}),
	} {
		if err := v.Verify(ctx, tok, ""); !errs.Is(err, errs.KindUnauthenticated) {
			t.Errorf("%s: %v, want unauthenticated", name, err)
		}
	}
}
