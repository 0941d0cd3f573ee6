package google_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/sandbox"
	"github.com/personalcrm/core/shared/sealbox"
	"github.com/personalcrm/core/shared/testkit"
)

type tokenFixture struct {
	pool   *db.Pool
	g      *sandbox.Google
	client *google.Client
	box    *sealbox.Box
	key    string // the box's one key, k1
	tokens *google.Tokens
}

func newTokenFixture(t *testing.T, o sandbox.GoogleOptions) tokenFixture {
	t.Helper()
	g, c := sandboxClient(t, o)
	key := sealbox.NewKey()
	box, err := sealbox.ParseKeys("k1:" + key)
	if err != nil {
		t.Fatal(err)
	}
	pool := testkit.DB(t)
	return tokenFixture{pool: pool, g: g, client: c, box: box, key: key, tokens: google.NewTokens(pool, c, box)}
}

// account creates a user with a Google account whose tokens come from a
// real consent at the sandbox, and returns the ids and the tokens.
func (f tokenFixture) account(t *testing.T, email string) (userID, accountID uuid.UUID, tok *oauth2.Token) {
	t.Helper()
	ctx := context.Background()
	userID, _ = testkit.User(t, f.pool, email)
	accountID = uuid.Must(uuid.NewV7())
	verifier := oauth2.GenerateVerifier()
	code, _ := testkit.ConsentCode(t, f.client.AuthCodeURL("s", verifier, true), email)
	tok, err := f.client.Exchange(ctx, code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.client.Profile(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, `insert into accounts (id, user_id, provider, provider_account_id) values ($1, $2, 'google', $3)`, accountID, userID, p.Subject); err != nil {
		t.Fatal(err)
	}
	if err := f.tokens.Save(ctx, nil, userID, accountID, tok); err != nil {
		t.Fatal(err)
	}
	return userID, accountID, tok
}

func (f tokenFixture) expire(t *testing.T, accountID uuid.UUID) {
	t.Helper()
	if _, err := f.pool.Exec(context.Background(), `update accounts set expires_at = now() - interval '1 second' where id = $1`, accountID); err != nil {
		t.Fatal(err)
	}
}

// holdFirstRefresh makes the sandbox hold the first refresh, after
// calling started (if not nil), until another session of the test's
// database waits for a lock, or for at most five seconds.
func (f tokenFixture) holdFirstRefresh(started func()) {
	ctx := context.Background()
	var dbName string
	f.pool.QueryRow(ctx, "select current_database()").Scan(&dbName)
	waiting := func() bool {
		var n int
		f.pool.QueryRow(ctx, `select count(*) from pg_stat_activity where datname = $1 and wait_event_type = 'Lock'`, dbName).Scan(&n)
		return n > 0
	}
	var once sync.Once
	f.g.OnRefresh(func() {
		once.Do(func() {
			if started != nil {
				started()
			}
			for i := 0; i < 500 && !waiting(); i++ {
				time.Sleep(10 * time.Millisecond)
			}
		})
	})
}

func TestTokenFreshAndRefreshed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newTokenFixture(t, sandbox.GoogleOptions{})
	userID, accountID, first := f.account(t, "ada@example.com")

	tok, err := f.tokens.Token(ctx, userID, accountID)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != first.AccessToken {
		t.Fatalf("a fresh token was not served from the store: another access token")
	}
	if tok.RefreshToken != "" {
		t.Fatalf("a fresh token was served with its refresh token")
	}
	if n := f.g.Calls("refresh_token"); n != 0 {
		t.Fatalf("a fresh token was refreshed %d times, want 0", n)
	}

	// Within the leeway of its expiry, the token is refreshed.
	f.pool.Exec(ctx, `update accounts set expires_at = now() + interval '30 seconds' where id = $1`, accountID)
	tok, err = f.tokens.Token(ctx, userID, accountID)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == first.AccessToken || f.g.Calls("refresh_token") != 1 || time.Until(tok.Expiry) < 30*time.Minute {
		t.Fatalf("no refresh near expiry: refreshes %d, expiry %s", f.g.Calls("refresh_token"), tok.Expiry)
	}
	if again, _ := f.tokens.Token(ctx, userID, accountID); again.AccessToken != tok.AccessToken || f.g.Calls("refresh_token") != 1 {
		t.Fatal("the refreshed token was not stored")
	}
	if _, err := f.client.Profile(ctx, tok.AccessToken); err != nil {
		t.Fatalf("refreshed token refused by Google: %v", err)
	}

	other, _ := testkit.User(t, f.pool, "mallory@example.com")
	if _, err := f.tokens.Token(ctx, other, accountID); !errs.Is(err, errs.KindNotFound) {
		t.Fatalf("another user's account: %v", err)
	}
	id, err := f.tokens.AccountOf(ctx, userID)
	if err != nil {
		t.Fatalf("AccountOf: %v", err)
	}
	if id != accountID {
		t.Fatalf("AccountOf = %s, want %s", id, accountID)
	}
	if _, err := f.tokens.AccountOf(ctx, other); !errs.Is(err, errs.KindNotFound) {
		t.Fatalf("AccountOf a user without one: %v", err)
	}
}

// TestConcurrentRefreshesMakeOneCall holds the first refresh at the
// sandbox until the second caller is waiting for the account's row lock:
// the second must then find the new token instead of refreshing again.
func TestConcurrentRefreshesMakeOneCall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newTokenFixture(t, sandbox.GoogleOptions{})
	userID, accountID, _ := f.account(t, "ada@example.com")
	f.expire(t, accountID)

	f.holdFirstRefresh(nil)

	const callers = 2
	var wg sync.WaitGroup
	got := make([]string, callers)
	errc := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := f.tokens.Token(ctx, userID, accountID)
			errc[i] = err
			if tok != nil {
				got[i] = tok.AccessToken
			}
		}()
	}
	wg.Wait()
	for _, err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.g.Calls("refresh_token"); n != 1 {
		t.Fatalf("%d refresh calls for concurrent callers, want 1", n)
	}
	if got[0] != got[1] || got[0] == "" {
		t.Fatal("the callers got different tokens")
	}
}

func TestRotatedRefreshTokenIsStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newTokenFixture(t, sandbox.GoogleOptions{RotateRefreshTokens: true})
	userID, accountID, first := f.account(t, "ada@example.com")

	for i := 1; i <= 3; i++ {
		f.expire(t, accountID)
		if _, err := f.tokens.Token(ctx, userID, accountID); err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
	}
	if f.g.Calls("refresh_token") != 3 {
		t.Fatalf("%d refreshes", f.g.Calls("refresh_token"))
	}
	// The first refresh token was retired by the first rotation; the later
	// refreshes worked, so the rotated ones were stored and used.
	if _, err := f.client.Refresh(ctx, first.RefreshToken); !errors.Is(err, google.ErrInvalidGrant) {
		t.Fatalf("first refresh token still works after rotation: %v", err)
	}
}

func TestInvalidGrantMarksAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newTokenFixture(t, sandbox.GoogleOptions{})
	userID, accountID, _ := f.account(t, "ada@example.com")
	f.g.RevokeUser("ada@example.com")
	f.expire(t, accountID)

	_, err := f.tokens.Token(ctx, userID, accountID)
	var re *google.ReconsentError
	if !errors.As(err, &re) || re.AccountID != accountID {
		t.Fatalf("revoked grant: %v; want *ReconsentError", err)
	}
	if !errs.IsPermanent(err) || !errs.Is(err, errs.KindForbidden) {
		t.Fatalf("reconsent error: permanent %v, kind %v", errs.IsPermanent(err), errs.KindOf(err))
	}
	var marked bool
	f.pool.QueryRow(ctx, `select needs_reconsent from accounts where id = $1`, accountID).Scan(&marked)
	if !marked {
		t.Fatal("account not marked as needing consent")
	}
	if need, _ := f.tokens.NeedsReconsent(ctx, nil, userID, accountID); !need {
		t.Fatal("NeedsReconsent = false")
	}
	if _, err := f.tokens.Token(ctx, userID, accountID); !errors.As(err, &re) || f.g.Calls("refresh_token") != 1 {
		t.Fatalf("a marked account asked Google again (%d calls): %v", f.g.Calls("refresh_token"), err)
	}

	// Consenting again (a new refresh token) clears the mark.
	verifier := oauth2.GenerateVerifier()
	code, _ := testkit.ConsentCode(t, f.client.AuthCodeURL("s", verifier, true), "ada@example.com")
	tok, err := f.client.Exchange(ctx, code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.tokens.Save(ctx, nil, userID, accountID, tok); err != nil {
		t.Fatal(err)
	}
	f.expire(t, accountID)
	if _, err := f.tokens.Token(ctx, userID, accountID); err != nil {
		t.Fatalf("after consenting again: %v", err)
	}
}

func TestSealedTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newTokenFixture(t, sandbox.GoogleOptions{})
	aliceID, aliceAcct, _ := f.account(t, "alice@example.com")
	bobID, bobAcct, _ := f.account(t, "bob@example.com")

	// A ciphertext moved to another account does not open there.
	if _, err := f.pool.Exec(ctx, `update accounts set access_token = (select access_token from accounts where id = $1) where id = $2`, aliceAcct, bobAcct); err != nil {
		t.Fatal(err)
	}
	tok, err := f.tokens.Token(ctx, bobID, bobAcct)
	if !errors.Is(err, sealbox.ErrOpen) || tok != nil {
		t.Fatalf("bob's row with alice's ciphertext: %v, %v", tok, err)
	}
	if _, err := f.tokens.Token(ctx, aliceID, aliceAcct); err != nil {
		t.Fatal(err)
	}

	// Key rotation: a ring with a new key first opens what the old key
	// sealed and seals what it writes with the new key.
	k2 := sealbox.NewKey()
	rotated, _ := sealbox.ParseKeys(fmt.Sprintf("k2:%s,k1:%s", k2, f.key))
	tokens := google.NewTokens(f.pool, f.client, rotated)
	if _, err := tokens.Token(ctx, aliceID, aliceAcct); err != nil {
		t.Fatalf("rotated ring cannot read old tokens: %v", err)
	}
	f.expire(t, aliceAcct)
	if _, err := tokens.Token(ctx, aliceID, aliceAcct); err != nil {
		t.Fatal(err)
	}
	var access, refresh []byte
	f.pool.QueryRow(ctx, `select access_token, refresh_token from accounts where id = $1`, aliceAcct).Scan(&access, &refresh)
	if id, _ := sealbox.KeyID(access); id != "k2" {
		t.Fatalf("refreshed access token sealed with %q, want k2", id)
	}
	if id, _ := sealbox.KeyID(refresh); id != "k2" {
		t.Fatalf("refresh token sealed again with %q, want k2", id)
	}
	newOnly, _ := sealbox.ParseKeys("k2:" + k2)
	if _, err := google.NewTokens(f.pool, f.client, newOnly).Token(ctx, aliceID, aliceAcct); err != nil {
		t.Fatalf("after rotation the old key is no longer needed: %v", err)
	}
}
