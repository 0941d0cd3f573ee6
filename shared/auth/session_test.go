package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/testkit"
)

func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	userID, _ := testkit.User(t, pool, "s@example.com")
	sessions := auth.NewSessions(pool)

	token, sess, err := sessions.Create(ctx, nil, userID, auth.Meta{UserAgent: "ua", IP: "203.0.113.9"})
	if err != nil {
		t.Fatal(err)
	}
	if len(token) != 43 || strings.ContainsAny(token, "+/=") {
		t.Fatalf("token %q is not 256 bits of URL-safe base64", token)
	}
	p, err := sessions.Resolve(ctx, token)
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	if p.UserID != userID {
		t.Fatalf("resolve: user %v, want %v", p.UserID, userID)
	}
	if p.SessionID != sess.ID {
		t.Fatalf("resolve: session %v, want %v", p.SessionID, sess.ID)
	}

	var stored int
	pool.QueryRow(ctx, "select count(*) from sessions where token_hash = $1 and position($2::bytea in token_hash) = 0", auth.HashToken(token), []byte(token)).Scan(&stored)
	if stored != 1 {
		t.Fatalf("session not stored by hash alone")
	}

	for name, tok := range map[string]string{"unknown": auth.NewToken(), "empty": "", "short": "abc", "huge": strings.Repeat("a", 300)} {
		if _, err := sessions.Resolve(ctx, tok); !errs.Is(err, errs.KindUnauthenticated) {
			t.Errorf("%s token: %v", name, err)
		}
	}

	if _, err := pool.Exec(ctx, "update sessions set expires_at = now() - interval '1 second' where id = $1", sess.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := sessions.Resolve(ctx, token); !errs.Is(err, errs.KindUnauthenticated) {
		t.Fatalf("expired session resolved: %v", err)
	}

	token2, sess2, _ := sessions.Create(ctx, nil, userID, auth.Meta{})
	otherUser, _ := testkit.User(t, pool, "other@example.com")
	if err := sessions.Revoke(ctx, otherUser, sess2.ID); !errs.Is(err, errs.KindNotFound) {
		t.Fatalf("another user revoked the session: %v", err)
	}
	if err := sessions.Revoke(ctx, userID, sess2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := sessions.Resolve(ctx, token2); !errs.Is(err, errs.KindUnauthenticated) {
		t.Fatalf("revoked session resolved: %v", err)
	}
}

func testNow() time.Time { return time.Now() }

func TestSessionRenewalAndList(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	userID, _ := testkit.User(t, pool, "r@example.com")
	sessions := auth.NewSessions(pool)
	token, sess, _ := sessions.Create(ctx, nil, userID, auth.Meta{UserAgent: "ua"})
	pool.Exec(ctx, `update users set features = '{"ai-agents": true, "odd": "x"}' where id = $1`, userID)

	p, err := sessions.Resolve(ctx, token)
	if err != nil {
		t.Fatalf("fresh session: %v", err)
	}
	if p.Renewed {
		t.Fatal("fresh session renewed")
	}
	if diff := cmp.Diff(map[string]bool{"ai-agents": true}, p.Features); diff != "" {
		t.Fatalf("fresh session features (-want +got):\n%s", diff)
	}
	if !p.ExpiresAt.Equal(sess.ExpiresAt) {
		t.Fatalf("fresh session expires at %s, want %s", p.ExpiresAt, sess.ExpiresAt)
	}
	pool.Exec(ctx, `update sessions set last_used_at = now() - interval '2 days', expires_at = now() + interval '5 days' where id = $1`, sess.ID)
	p, err = sessions.Resolve(ctx, token)
	if err != nil {
		t.Fatalf("stale session: %v", err)
	}
	if !p.Renewed {
		t.Fatal("stale session not renewed")
	}
	if left := time.Until(p.ExpiresAt); left < auth.SessionTTL-time.Minute {
		t.Fatalf("renewed session expires in %s, want about %s", left, auth.SessionTTL)
	}
	if p, _ = sessions.Resolve(ctx, token); p.Renewed {
		t.Fatal("renewed again at once")
	}

	other, _ := testkit.User(t, pool, "o@example.com")
	_, second, _ := sessions.Create(ctx, nil, userID, auth.Meta{})
	expired, _, _ := sessions.Create(ctx, nil, userID, auth.Meta{})
	pool.Exec(ctx, `update sessions set expires_at = now() - interval '1 second' where token_hash = $1`, auth.HashToken(expired))
	list, err := sessions.List(ctx, userID)
	// testkit.User made one session too.
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list) != 3 {
		t.Fatalf("list: %d sessions, want 3: %+v", len(list), list)
	}
	if list[0].ID != second.ID {
		t.Fatalf("list[0] is session %v, want the newest %v", list[0].ID, second.ID)
	}
	if list[1].ID != sess.ID {
		t.Fatalf("list[1] is session %v, want %v", list[1].ID, sess.ID)
	}
	if list, _ := sessions.List(ctx, other); len(list) != 1 {
		t.Fatalf("other user's list: %d sessions", len(list))
	}
}

// A session used every day still ends at its absolute lifetime: renewal
// moves its expiry forward but never past its creation plus the maximum
// age, and a session older than that is refused whatever its stored expiry.
func TestSessionAbsoluteLifetime(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	userID, _ := testkit.User(t, pool, "abs@example.com")
	sessions := auth.NewSessions(pool)
	if sessions.MaxAge() != auth.DefaultMaxAge || auth.DefaultMaxAge != 30*24*time.Hour {
		t.Fatalf("max age %v, default %v; want 30 days", sessions.MaxAge(), auth.DefaultMaxAge)
	}
	token, sess, err := sessions.Create(ctx, nil, userID, auth.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	age := func(created, lastUsed, expires string) {
		t.Helper()
		if _, err := pool.Exec(ctx, `update sessions set created_at = now() - $2::interval,
			last_used_at = now() - $3::interval, expires_at = now() + $4::interval where id = $1`,
			sess.ID, created, lastUsed, expires); err != nil {
			t.Fatal(err)
		}
	}
	stored := func() time.Time {
		t.Helper()
		var e time.Time
		if err := pool.QueryRow(ctx, `select expires_at from sessions where id = $1`, sess.ID).Scan(&e); err != nil {
			t.Fatal(err)
		}
		return e
	}

	// Signed in 29 days and 22 hours ago, used daily: the renewal stops at
	// 30 days, two hours from now, not SessionTTL from now.
	age("29 days 22 hours", "2 days", "5 days")
	p, err := sessions.Resolve(ctx, token)
	if err != nil {
		t.Fatalf("renewal near the end: %v", err)
	}
	if !p.Renewed {
		t.Fatalf("not renewed near the end: %+v", p)
	}
	if left := time.Until(p.ExpiresAt); left > 2*time.Hour+time.Minute || left < 2*time.Hour-time.Minute {
		t.Fatalf("renewed to %v from now, want 2h (the absolute lifetime)", left.Round(time.Minute))
	}
	if left := time.Until(stored()); left > 2*time.Hour+time.Minute {
		t.Fatalf("stored expiry %v from now, past the absolute lifetime", left.Round(time.Minute))
	}

	// Past 30 days: refused, though its stored expiry (written before the
	// limit, or by a longer SESSION_MAX_AGE) lies ahead; and not listed.
	age("30 days 1 minute", "2 days", "5 days")
	if _, err := sessions.Resolve(ctx, token); !errs.Is(err, errs.KindUnauthenticated) {
		t.Fatalf("session past its absolute lifetime: %v, want Unauthenticated", err)
	}
	if list, _ := sessions.List(ctx, userID); len(list) != 1 { // testkit.User's own
		t.Fatalf("list holds %d sessions, want the one within its lifetime", len(list))
	}

	// Configured shorter (SESSION_MAX_AGE=2h): new sessions expire within
	// it, and a session of three hours ends at once.
	short := auth.NewSessions(pool).WithMaxAge(2 * time.Hour)
	tok2, s2, err := short.Create(ctx, nil, userID, auth.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(s2.ExpiresAt); left > 2*time.Hour {
		t.Fatalf("new session expires in %v, past the 2h lifetime", left)
	}
	age("1 day", "1 day", "5 days") // sess, aged under the default limit
	if _, err := sessions.Resolve(ctx, token); err != nil {
		t.Fatalf("a day-old session under 30 days: %v", err)
	}
	if _, err := short.Resolve(ctx, token); !errs.Is(err, errs.KindUnauthenticated) {
		t.Fatalf("a day-old session under a 2h lifetime: %v, want Unauthenticated", err)
	}
	p, err = short.Resolve(ctx, tok2)
	if err != nil {
		t.Fatalf("a new session under a 2h lifetime: %v", err)
	}
	if p.SessionID != s2.ID {
		t.Fatalf("a new session under a 2h lifetime resolves to session %v, want %v", p.SessionID, s2.ID)
	}
}

// BenchmarkResolve compares resolving a session (with the user's feature
// settings and the renewal check, one round trip) with the plain lookup
// by token hash it replaced.
func BenchmarkResolve(b *testing.B) {
	pool := testkit.DB(b)
	ctx := context.Background()
	_, token := testkit.User(b, pool, "bench@example.com")
	sessions := auth.NewSessions(pool)
	b.Run("plain-lookup", func(b *testing.B) {
		for b.Loop() {
			var id, user [16]byte
			if err := pool.QueryRow(ctx, `select id, user_id from sessions where token_hash = $1 and expires_at > now()`,
				auth.HashToken(token)).Scan(&id, &user); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("resolve", func(b *testing.B) {
		for b.Loop() {
			if _, err := sessions.Resolve(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestResolveAfterTerminatedSessions: a session is looked up, and renewed,
// on a fresh connection when the server ended the pool's connections (a
// restart or failover), rather than failing the request.
func TestResolveAfterTerminatedSessions(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	userID, _ := testkit.User(t, pool, "r@example.com")
	sessions := auth.NewSessions(pool)
	token, sess, err := sessions.Create(ctx, nil, userID, auth.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	for _, stale := range []bool{false, true} {
		if stale {
			if _, err := pool.Exec(ctx, "update sessions set last_used_at = now() - interval '2 days' where id = $1", sess.ID); err != nil {
				t.Fatal(err)
			}
		}
		testkit.TerminateSessions(t, pool)
		p, err := sessions.Resolve(ctx, token)
		if err != nil {
			t.Fatalf("resolve after the sessions ended (stale %v): %v", stale, err)
		}
		if p.SessionID != sess.ID {
			t.Fatalf("resolve after the sessions ended (stale %v): session %v, want %v", stale, p.SessionID, sess.ID)
		}
		if stale && !p.Renewed {
			t.Errorf("stale session not renewed after the sessions ended")
		}
	}
}
