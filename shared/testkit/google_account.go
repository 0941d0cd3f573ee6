package testkit

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/sandbox"
	"github.com/personalcrm/core/shared/sealbox"
)

// GoogleKit is a sandbox Google with a client of it and a token store,
// for tests of what runs with people's Google accounts.
type GoogleKit struct {
	Sandbox *sandbox.Google
	Client  *google.Client
	Tokens  *google.Tokens
}

// StartGoogleKit serves a sandbox Google for the test and returns a
// client of it and a token store on pool, sealing with a new key.
func StartGoogleKit(t testing.TB, pool *db.Pool, o sandbox.GoogleOptions) GoogleKit {
	t.Helper()
	g := StartGoogle(t, o)
	c := google.New(google.Options{
		ClientID: g.ClientID(), ClientSecret: g.ClientSecret(),
		RedirectURL: "http://127.0.0.1:1/auth/google/callback",
		Endpoints:   google.SandboxEndpoints(g.URL()), Sandbox: true,
	})
	box, err := sealbox.ParseKeys("k1:" + sealbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	return GoogleKit{Sandbox: g, Client: c, Tokens: google.NewTokens(pool, c, box)}
}

// Account creates a user with email, a live session and a Google account
// whose tokens come from a real consent at the sandbox, with offline
// access, stored sealed as sign-in stores them. It returns the user's id,
// the session token and the account's id. The person unticks the scopes
// untick at the consent page, and so does not grant them.
func (k GoogleKit) Account(t testing.TB, pool *db.Pool, email string, untick ...string) (userID uuid.UUID, session string, accountID uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	userID, session = User(t, pool, email)
	accountID = uuid.Must(uuid.NewV7())
	verifier := oauth2.GenerateVerifier()
	code, _ := ConsentCode(t, k.Client.AuthCodeURL("s", verifier, true), email, untick...)
	tok, err := k.Client.Exchange(ctx, code, verifier)
	if err != nil {
		t.Fatalf("testkit: exchange: %v", err)
	}
	p, err := k.Client.Profile(ctx, tok.AccessToken)
	if err != nil {
		t.Fatalf("testkit: profile: %v", err)
	}
	if _, err := pool.Exec(ctx, `insert into accounts (id, user_id, provider, provider_account_id) values ($1, $2, $3, $4)`,
		accountID, userID, google.Provider, p.Subject); err != nil {
		t.Fatalf("testkit: create account: %v", err)
	}
	if err := k.Tokens.Save(ctx, nil, userID, accountID, tok); err != nil {
		t.Fatalf("testkit: save tokens: %v", err)
	}
	return userID, session, accountID
}
