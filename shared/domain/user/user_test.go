package user_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/domain/user"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/sealbox"
	"github.com/personalcrm/core/shared/testkit"
)

func signIn(t *testing.T) (*db.Pool, *user.SignIn) {
	t.Helper()
	pool := testkit.DB(t)
	box, err := sealbox.ParseKeys("k1:" + sealbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	return pool, user.NewSignIn(pool, google.NewTokens(pool, nil, box), auth.NewSessions(pool))
}

func tok(refresh string) *oauth2.Token {
	return &oauth2.Token{AccessToken: "ya29.test", RefreshToken: refresh, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}
}

func rows(t *testing.T, pool *db.Pool) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"users", "accounts", "sessions"} {
		var n int
		pool.QueryRow(context.Background(), "select count(*) from "+table).Scan(&n)
		out[table] = n
	}
	return out
}

func TestSignInFindsUsersBySubject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, s := signIn(t)
	ada := user.Identity{Subject: "101", Email: "ada@example.com", EmailVerified: true, Name: "Ada", Picture: "https://example.com/ada.png"}

	first, err := s.Complete(ctx, ada, tok("1//r"), auth.Meta{UserAgent: "browser"})
	if err != nil {
		t.Fatal(err)
	}
	if !first.Created {
		t.Fatalf("first sign-in did not create the user")
	}
	if first.User.Email != "ada@example.com" {
		t.Fatalf("first sign-in: email %q, want ada@example.com", first.User.Email)
	}
	if *first.User.Name != "Ada" {
		t.Fatalf("first sign-in: name %q, want Ada", *first.User.Name)
	}
	if first.Token == "" {
		t.Fatalf("first sign-in: no session token")
	}
	if ok, _ := s.HasGrant(ctx, "101"); !ok {
		t.Fatal("no grant after a sign-in with a refresh token")
	}

	// The user renames themselves; Google's email changes.
	users := user.NewService(pool)
	renamed := "Ada Lovelace"
	if _, err := users.Update(ctx, first.User.ID, user.Patch{Name: &renamed}); err != nil {
		t.Fatal(err)
	}
	ada.Email, ada.Name = "ada@lovelace.example", "A. King"
	again, err := s.Complete(ctx, ada, tok(""), auth.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Created || again.User.ID != first.User.ID || again.AccountID != first.AccountID ||
		again.User.Email != "ada@lovelace.example" || *again.User.Name != "Ada Lovelace" {
		t.Fatalf("returning sign-in: %+v", again.User)
	}
	if ok, _ := s.HasGrant(ctx, "101"); !ok {
		t.Fatal("a sign-in without a refresh token dropped the stored one")
	}
	if d := cmp.Diff(map[string]int{"users": 1, "accounts": 1, "sessions": 2}, rows(t, pool)); d != "" {
		t.Fatalf("rows (-want +got):\n%s", d)
	}

	// Another person who takes Ada's old address at Google does not take
	// over Ada's user.
	eve := user.Identity{Subject: "202", Email: "ada@example.com", EmailVerified: true}
	res, err := s.Complete(ctx, eve, tok("1//e"), auth.Meta{})
	if err != nil {
		t.Fatalf("new subject with a free address: %v", err)
	}
	if res.User.ID == first.User.ID {
		t.Fatalf("new subject with a free address took over user %v", res.User.ID)
	}
	// Ada coming back with an address someone else has keeps hers.
	ada.Email = "ada@example.com"
	again, err = s.Complete(ctx, ada, tok(""), auth.Meta{})
	if err != nil {
		t.Fatalf("address taken by another user: %v", err)
	}
	if again.User.Email != "ada@lovelace.example" {
		t.Fatalf("address taken by another user: email %s, want ada@lovelace.example", again.User.Email)
	}
}

func TestSignInLinksAndRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, s := signIn(t)
	users := user.NewService(pool)
	existing, err := users.EnsureByEmail(ctx, "Grace@Example.com")
	if err != nil {
		t.Fatal(err)
	}

	// Unverified: refused, nothing written.
	before := rows(t, pool)
	_, err = s.Complete(ctx, user.Identity{Subject: "301", Email: "grace@example.com", EmailVerified: false}, tok("1//g"), auth.Meta{})
	if !errs.Is(err, errs.KindForbidden) {
		t.Fatalf("unverified email: %v", err)
	}
	if d := cmp.Diff(before, rows(t, pool)); d != "" {
		t.Fatalf("refused sign-in wrote rows:\n%s", d)
	}
	if _, err := s.Complete(ctx, user.Identity{Subject: "", Email: "grace@example.com", EmailVerified: true}, tok(""), auth.Meta{}); !errs.Is(err, errs.KindInvalid) {
		t.Fatalf("no subject: %v", err)
	}

	// Verified: the user who already has the address (any case) is linked.
	res, err := s.Complete(ctx, user.Identity{Subject: "301", Email: "grace@example.com", EmailVerified: true, Name: "Grace"}, tok("1//g"), auth.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Created {
		t.Fatalf("linking created a user, want the existing one")
	}
	if res.User.ID != existing.ID {
		t.Fatalf("linking: user %v, want the existing %v", res.User.ID, existing.ID)
	}
	if res.User.Name == nil {
		t.Fatalf("linking: no name")
	}

	// A second Google account with the same address: conflict.
	before = rows(t, pool)
	_, err = s.Complete(ctx, user.Identity{Subject: "302", Email: "GRACE@example.com", EmailVerified: true}, tok("1//x"), auth.Meta{})
	if !errs.Is(err, errs.KindConflict) {
		t.Fatalf("address of a user with another Google account: %v", err)
	}
	if d := cmp.Diff(before, rows(t, pool)); d != "" {
		t.Fatalf("refused sign-in wrote rows:\n%s", d)
	}
}

func TestConcurrentFirstSignIns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, s := signIn(t)
	id := user.Identity{Subject: "401", Email: "race@example.com", EmailVerified: true}
	const n = 4
	var wg sync.WaitGroup
	results := make([]user.Result, n)
	errc := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errc[i] = s.Complete(ctx, id, tok("1//r"), auth.Meta{})
		}()
	}
	wg.Wait()
	for i := range n {
		if errc[i] != nil {
			t.Fatal(errc[i])
		}
		if results[i].User.ID != results[0].User.ID || results[i].AccountID != results[0].AccountID {
			t.Fatal("concurrent sign-ins of one person made different users or accounts")
		}
	}
	if d := cmp.Diff(map[string]int{"users": 1, "accounts": 1, "sessions": n}, rows(t, pool)); d != "" {
		t.Fatalf("rows (-want +got):\n%s", d)
	}
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testkit.DB(t)
	users := user.NewService(pool)
	u, _ := users.EnsureByEmail(ctx, "u@example.com")
	long := string(make([]rune, user.MaxName+1))
	bad := "ftp://example.com/x.png"
	_, err := users.Update(ctx, u.ID, user.Patch{Name: &long, ImageURL: &bad})
	e, ok := errs.As(err)
	if !ok || e.Kind != errs.KindInvalid || len(e.Fields["name"]) == 0 || len(e.Fields["imageUrl"]) == 0 {
		t.Fatalf("both problems in one error: %v", err)
	}
	empty := ""
	got, err := users.Update(ctx, u.ID, user.Patch{Name: &empty})
	if err != nil {
		t.Fatalf("clearing the name: %v", err)
	}
	if got.Name != nil {
		t.Fatalf("clearing the name left %q", *got.Name)
	}
	got, err = users.Update(ctx, u.ID, user.Patch{})
	if err != nil {
		t.Fatalf("empty patch: %v", err)
	}
	if got.ID != u.ID {
		t.Fatalf("empty patch returned user %v, want %v", got.ID, u.ID)
	}
	pool.Exec(ctx, `update users set features = '{"webhooks": "yes", "ai-agents": true}' where id = $1`, u.ID)
	got, err = users.Get(ctx, u.ID)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if d := cmp.Diff(user.Settings{"ai-agents": true}, got.Features); d != "" {
		t.Fatalf("hand-written features (-want +got):\n%s", d)
	}
}

// TestSignInStartsMailSync: a sign-in whose account may read Gmail
// enqueues its mail sync in the sign-in's transaction, one per account;
// one without Gmail access, or without a refresh token, enqueues none.
func TestSignInStartsMailSync(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, s := signIn(t)
	q := queue.New(pool, nil, nil)
	s.WithMailSync(q, email.NewSyncs(pool, q))
	withScope := func(tk *oauth2.Token, scope string) *oauth2.Token {
		return tk.WithExtra(map[string]any{"scope": scope})
	}
	pending := func() int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `select count(*) from jobs where kind = 'email-sync' and state = 'pending'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// No refresh token yet: nothing can sync.
	ada := user.Identity{Subject: "101", Email: "ada@example.com", EmailVerified: true}
	res, err := s.Complete(ctx, ada, withScope(tok(""), "openid email "+google.ScopeGmailReadonly), auth.Meta{})
	if err != nil {
		t.Fatalf("without a refresh token: %v", err)
	}
	if res.MailSync {
		t.Fatalf("without a refresh token: mail sync started")
	}
	if n := pending(); n != 0 {
		t.Fatalf("without a refresh token: %d syncs pending, want 0", n)
	}
	// Gmail not granted.
	res, err = s.Complete(ctx, ada, withScope(tok("1//r"), "openid email profile"), auth.Meta{})
	if err != nil {
		t.Fatalf("without the Gmail scope: %v", err)
	}
	if res.MailSync {
		t.Fatalf("without the Gmail scope: mail sync started")
	}
	if n := pending(); n != 0 {
		t.Fatalf("without the Gmail scope: %d syncs pending, want 0", n)
	}
	// Granted: one sync, however often Ada signs in while it waits.
	for i := range 2 {
		res, err = s.Complete(ctx, ada, withScope(tok(""), "openid "+google.ScopeGmailReadonly+" email"), auth.Meta{})
		if err != nil {
			t.Fatalf("sign-in %d with the Gmail scope: %v", i+1, err)
		}
		if !res.MailSync {
			t.Fatalf("sign-in %d with the Gmail scope: mail sync not started", i+1)
		}
		if n := pending(); n != 1 {
			t.Fatalf("sign-in %d with the Gmail scope: %d syncs pending, want 1", i+1, n)
		}
	}
	// A failed sign-in leaves no job.
	if _, err := pool.Exec(ctx, `delete from jobs`); err != nil {
		t.Fatal(err)
	}
	bad := user.Identity{Subject: "303", Email: "eve@example.com"}
	if _, err := s.Complete(ctx, bad, withScope(tok("1//e"), google.ScopeGmailReadonly), auth.Meta{}); !errs.Is(err, errs.KindForbidden) || pending() != 0 {
		t.Fatalf("refused sign-in: %v, %d pending", err, pending())
	}
}
