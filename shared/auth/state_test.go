package auth_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/testkit"
)

func TestStates(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	states := auth.NewStates(pool, []byte("secret-one-0123456789012345678901"))

	state, verifier, err := states.Begin(ctx, true, "https://app.example.com/contacts/1?tab=mail")
	if err != nil {
		t.Fatal(err)
	}
	if len(verifier) != 43 || verifier != states.Verifier(state) {
		t.Fatalf("verifier %q", verifier)
	}
	if verifier == states.Verifier(auth.NewToken()) || verifier == auth.NewStates(pool, []byte("secret-two")).Verifier(state) {
		t.Fatal("verifier does not depend on both state and secret")
	}
	// The S256 challenge of a derived verifier is what oauth2 computes.
	if oauth2.S256ChallengeFromVerifier(verifier) == "" {
		t.Fatal("no challenge")
	}
	var stored int
	pool.QueryRow(ctx, `select count(*) from verification_tokens where position($1::bytea in token_hash) = 0 and data::text not like '%' || $2 || '%'`,
		[]byte(state), verifier).Scan(&stored)
	if stored != 1 {
		t.Fatal("state or verifier stored in plaintext")
	}

	got, err := states.Finish(ctx, state)
	if err != nil {
		t.Fatalf("finish: %v", err)
	}
	if diff := cmp.Diff(auth.Pending{Verifier: verifier, Consent: true, ReturnTo: "https://app.example.com/contacts/1?tab=mail"}, got); diff != "" {
		t.Fatalf("finish (-want +got):\n%s", diff)
	}
	if _, err := states.Finish(ctx, state); !errs.Is(err, errs.KindInvalid) {
		t.Fatalf("second use: %v", err)
	}

	old, _, _ := states.Begin(ctx, false, "")
	pool.Exec(ctx, `update verification_tokens set expires_at = now() - interval '1 second'`)
	if _, err := states.Finish(ctx, old); !errs.Is(err, errs.KindInvalid) {
		t.Fatalf("expired state: %v", err)
	}
	// Expired states are cleared as new sign-ins start.
	states.Begin(ctx, false, "")
	var n int
	pool.QueryRow(ctx, `select count(*) from verification_tokens`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d states kept, want the new one only", n)
	}
	for _, bad := range []string{"", "short", auth.NewToken()} {
		if _, err := states.Finish(ctx, bad); !errs.Is(err, errs.KindInvalid) {
			t.Errorf("state %q: %v", bad, err)
		}
	}
}

func TestCookiePolicy(t *testing.T) {
	tests := []struct {
		url        string
		production bool
		name       string
		secure     bool
	}{
		{"http://localhost:3000", false, "crm_session", false},
		{"http://127.0.0.1:8080", false, "crm_session", false},
		{"http://[::1]:3000", false, "crm_session", false},
		{"http://app.localhost:3000", false, "crm_session", false},
		{"https://localhost:3000", false, "__Host-crm_session", true},
		{"http://192.168.1.20:3000", false, "__Host-crm_session", true},
		{"http://localhost:3000", true, "__Host-crm_session", true},
		{"https://api.example.com", true, "__Host-crm_session", true},
		{"", true, "__Host-crm_session", true},
	}
	for _, tt := range tests {
		var u *url.URL
		if tt.url != "" {
			u, _ = url.Parse(tt.url)
		}
		c := auth.SessionCookie(u, tt.production)
		if c.Name != tt.name || c.Secure != tt.secure {
			t.Errorf("%s production=%v: %+v", tt.url, tt.production, c)
		}
		set := c.Set("v", testNow().Add(auth.SessionTTL))
		if !set.HttpOnly || set.Path != "/" || set.Domain != "" || set.Secure != tt.secure || set.SameSite != 2 {
			t.Errorf("%s: cookie %s", tt.url, set)
		}
		if cl := c.Clear(); cl.MaxAge >= 0 || cl.Name != c.Name || cl.Value != "" {
			t.Errorf("%s: clearing cookie %s", tt.url, cl)
		}
	}
}
