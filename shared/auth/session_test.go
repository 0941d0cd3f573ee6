package auth_test

import (
	"context"
	"strings"
	"testing"

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
	if err != nil || p.UserID != userID || p.SessionID != sess.ID {
		t.Fatalf("resolve: %+v %v", p, err)
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
