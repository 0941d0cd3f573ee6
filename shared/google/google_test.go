package google_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/sandbox"
	"github.com/personalcrm/core/shared/testkit"
)

func sandboxClient(t *testing.T, o sandbox.GoogleOptions) (*sandbox.Google, *google.Client) {
	t.Helper()
	g := testkit.StartGoogle(t, o)
	c := google.New(google.Options{
		ClientID: g.ClientID(), ClientSecret: g.ClientSecret(),
		RedirectURL: "http://127.0.0.1:1/auth/google/callback",
		Endpoints:   google.SandboxEndpoints(g.URL()), Sandbox: true,
	})
	return g, c
}

func TestAuthCodeURL(t *testing.T) {
	c := google.New(google.Options{ClientID: "id", RedirectURL: "https://api.example.com/auth/google/callback", Endpoints: google.Production})
	verifier := oauth2.GenerateVerifier()
	for _, consent := range []bool{false, true} {
		u, err := url.Parse(c.AuthCodeURL("st4te", verifier, consent))
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if u.Host != "accounts.google.com" || q.Get("state") != "st4te" || q.Get("access_type") != "offline" ||
			q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") != oauth2.S256ChallengeFromVerifier(verifier) ||
			q.Get("redirect_uri") != "https://api.example.com/auth/google/callback" || q.Get("response_type") != "code" {
			t.Fatalf("authorization URL %s", u)
		}
		if strings.Contains(u.String(), verifier) {
			t.Fatal("the verifier itself is in the URL")
		}
		scopes := strings.Fields(q.Get("scope"))
		for _, want := range []string{"openid", "email", "profile", google.ScopeGmailReadonly, google.ScopeCalendarReadonly, google.ScopeContactsReadonly} {
			if !slices.Contains(scopes, want) {
				t.Errorf("scope %s not asked for: %v", want, scopes)
			}
		}
		if got := q.Get("prompt") == "consent"; got != consent {
			t.Fatalf("consent %v: prompt=%q", consent, q.Get("prompt"))
		}
	}
}

// TestSandboxRoundTrip runs the real oauth2 client through the sandbox:
// code with PKCE, profile, refresh, revocation.
func TestSandboxRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g, c := sandboxClient(t, sandbox.GoogleOptions{})
	g.AddUser(sandbox.GoogleUser{Email: "ada@example.com", EmailVerified: true, Name: "Ada Lovelace", Picture: "https://example.com/ada.png"})

	verifier := oauth2.GenerateVerifier()
	code, state := testkit.ConsentCode(t, c.AuthCodeURL("s1", verifier, false), "ada@example.com")
	if state != "s1" || code == "" {
		t.Fatalf("code %q state %q", code, state)
	}
	tok, err := c.Exchange(ctx, code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" {
		t.Fatalf("first consent with offline access gave no access token")
	}
	if tok.RefreshToken == "" {
		t.Fatalf("first consent with offline access gave no refresh token")
	}
	if tok.Extra("id_token") == nil {
		t.Fatalf("first consent with offline access gave no ID token")
	}
	if !tok.Valid() {
		t.Fatalf("first consent with offline access gave a token that is not valid (expiry %s)", tok.Expiry)
	}
	if _, err := c.Exchange(ctx, code, verifier); !errors.Is(err, google.ErrInvalidGrant) {
		t.Fatalf("reused code: %v", err)
	}

	p, err := c.Profile(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if p.Email != "ada@example.com" {
		t.Fatalf("profile email %q, want ada@example.com", p.Email)
	}
	if !p.EmailVerified {
		t.Fatalf("profile email not verified")
	}
	if p.Name != "Ada Lovelace" {
		t.Fatalf("profile name %q, want Ada Lovelace", p.Name)
	}
	if p.Subject == "" {
		t.Fatalf("profile without a subject: %+v", p)
	}
	if p.Picture == "" {
		t.Fatalf("profile without a picture: %+v", p)
	}

	fresh, err := c.Refresh(ctx, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken != tok.RefreshToken || g.Calls("refresh_token") != 1 {
		t.Fatalf("refresh: new access %v, same refresh %v, calls %d", fresh.AccessToken != tok.AccessToken, fresh.RefreshToken == tok.RefreshToken, g.Calls("refresh_token"))
	}

	// Signing in again without asking for consent gives no refresh token,
	// as Google does; asking again does.
	v2 := oauth2.GenerateVerifier()
	code, _ = testkit.ConsentCode(t, c.AuthCodeURL("s2", v2, false), "ada@example.com")
	again, err := c.Exchange(ctx, code, v2)
	if err != nil {
		t.Fatalf("second sign-in without consent: %v", err)
	}
	if again.RefreshToken != "" {
		t.Fatalf("second sign-in without consent: refresh token %q, want none", again.RefreshToken)
	}
	v3 := oauth2.GenerateVerifier()
	code, _ = testkit.ConsentCode(t, c.AuthCodeURL("s3", v3, true), "ada@example.com")
	again, err = c.Exchange(ctx, code, v3)
	if err != nil {
		t.Fatalf("sign-in with prompt=consent: %v", err)
	}
	if again.RefreshToken == "" {
		t.Fatalf("sign-in with prompt=consent: no refresh token")
	}

	if err := c.Revoke(ctx, tok.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Refresh(ctx, tok.RefreshToken); !errors.Is(err, google.ErrInvalidGrant) {
		t.Fatalf("refresh after revocation: %v", err)
	}
	if _, err := c.Profile(ctx, fresh.AccessToken); err == nil {
		t.Fatal("an access token of a revoked grant still reads the profile")
	}
	if err := c.Revoke(ctx, tok.RefreshToken); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
}

func TestSandboxRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g, c := sandboxClient(t, sandbox.GoogleOptions{})

	verifier := oauth2.GenerateVerifier()
	code, _ := testkit.ConsentCode(t, c.AuthCodeURL("s", verifier, false), "eve@example.com")
	if _, err := c.Exchange(ctx, code, oauth2.GenerateVerifier()); !errors.Is(err, google.ErrInvalidGrant) {
		t.Fatalf("PKCE verifier mismatch: %v", err)
	}
	if _, err := c.Exchange(ctx, "4/0Asbx-made-up", verifier); !errors.Is(err, google.ErrInvalidGrant) {
		t.Fatalf("unknown code: %v", err)
	}

	bad := google.New(google.Options{ClientID: g.ClientID(), ClientSecret: "wrong", RedirectURL: "http://127.0.0.1:1/cb", Endpoints: google.SandboxEndpoints(g.URL())})
	code, _ = testkit.ConsentCode(t, bad.AuthCodeURL("s", verifier, false), "eve@example.com")
	_, err := bad.Exchange(ctx, code, verifier)
	if err == nil || errors.Is(err, google.ErrInvalidGrant) || errs.Is(err, errs.KindUnavailable) {
		t.Fatalf("wrong client secret: %v; want an internal error", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("error shows the secret: %v", err)
	}

	g.SetDown(true)
	if _, err := c.Refresh(ctx, "1//0sbx-anything"); !errs.Is(err, errs.KindUnavailable) {
		t.Fatalf("Google down, refresh: %v", err)
	}
	if _, err := c.Profile(ctx, "ya29.anything"); !errs.Is(err, errs.KindUnavailable) {
		t.Fatalf("Google down, profile: %v", err)
	}
	unreachable := google.New(google.Options{ClientID: "x", ClientSecret: "y", Endpoints: google.SandboxEndpoints("http://127.0.0.1:1")})
	if _, err := unreachable.Exchange(ctx, "c", verifier); !errs.Is(err, errs.KindUnavailable) {
		t.Fatalf("Google unreachable: %v", err)
	}
}

func TestFromConfig(t *testing.T) {
	fn := catalog.MustLookup(catalog.AuthLogin)
	load := func(env map[string]string) *config.Config {
		t.Helper()
		cfg, err := config.Load(context.Background(), fn, config.WithEnv(env))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	dev, err := google.FromConfig(load(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	if !dev.Sandbox() || dev.ClientID() != google.SandboxClientID || dev.Endpoints().Token != "http://localhost:3000/sandbox/google/token" {
		t.Fatalf("development without a client: sandbox %v at %+v", dev.Sandbox(), dev.Endpoints())
	}

	elsewhere, _ := google.FromConfig(load(map[string]string{"GOOGLE_SANDBOX_URL": "http://127.0.0.1:9999/g"}))
	if elsewhere.Endpoints().Auth != "http://127.0.0.1:9999/g/o/oauth2/v2/auth" {
		t.Fatalf("sandbox URL not used: %+v", elsewhere.Endpoints())
	}

	real, _ := google.FromConfig(load(map[string]string{"GOOGLE_CLIENT_ID": "id.apps.googleusercontent.com", "GOOGLE_CLIENT_SECRET": "s"}))
	if real.Sandbox() || real.Endpoints() != google.Production {
		t.Fatalf("configured client does not use Google: %+v", real.Endpoints())
	}
	u, _ := url.Parse(real.AuthCodeURL("s", oauth2.GenerateVerifier(), false))
	if u.Query().Get("redirect_uri") != "http://localhost:3000/auth/google/callback" {
		t.Fatalf("redirect URI %s", u.Query().Get("redirect_uri"))
	}

	// Config refuses a production sandbox; FromConfig does too, should a
	// configuration get past it.
	prod := load(map[string]string{})
	prod.Env, prod.GoogleClientID = config.Production, ""
	if _, err := google.FromConfig(prod); err == nil {
		t.Fatal("production got a sandbox")
	}
}
