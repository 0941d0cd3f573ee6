package auth_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/feature"
	"github.com/personalcrm/core/shared/testkit"
)

func cacheBackends(t *testing.T) map[string]*cache.Cache {
	return map[string]*cache.Cache{
		"memory": cache.New(cache.NewMemory(0), cache.Options{}),
		"redis":  testkit.Redis(t, cache.Options{}),
	}
}

func TestCachedSessions(t *testing.T) {
	t.Parallel()
	for name, c := range cacheBackends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool := testkit.DB(t)
			s := auth.NewCachedSessions(auth.NewSessions(pool), c)
			aliceID, alice := testkit.User(t, pool, "alice@example.com")
			bobID, bob := testkit.User(t, pool, "bob@example.com")

			resolve := func(token string) (auth.Principal, error) {
				t.Helper()
				return s.Resolve(ctx, token)
			}
			pa, err := resolve(alice)
			if err != nil || pa.UserID != aliceID {
				t.Fatalf("alice resolves to %+v, %v", pa, err)
			}
			pb, err := resolve(bob)
			if err != nil || pb.UserID != bobID {
				t.Fatalf("bob resolves to %+v, %v", pb, err)
			}
			// Cached: a second resolve costs no query, so it answers even
			// with the row gone behind the store's back...
			if _, err := pool.Exec(ctx, "delete from sessions where id = $1", pa.SessionID); err != nil {
				t.Fatal(err)
			}
			if p, err := resolve(alice); err != nil || p.UserID != pa.UserID || p.SessionID != pa.SessionID {
				t.Fatalf("cached alice resolves to %+v, %v", p, err)
			}
			// ...until the sign-out drops the entry.
			s.Forget(ctx, alice)
			if _, err := resolve(alice); !errs.Is(err, errs.KindUnauthenticated) {
				t.Fatalf("after Forget: %v, want Unauthenticated", err)
			}

			// Revoke through the cached store takes effect at once.
			if p, err := resolve(bob); err != nil || p.UserID != bobID {
				t.Fatalf("bob again: %+v, %v", p, err)
			}
			if err := s.Revoke(ctx, bobID, pb.SessionID); err != nil {
				t.Fatal(err)
			}
			if _, err := resolve(bob); !errs.Is(err, errs.KindUnauthenticated) {
				t.Fatalf("after Revoke: %v, want Unauthenticated", err)
			}
			if err := s.Revoke(ctx, bobID, pb.SessionID); !errs.Is(err, errs.KindNotFound) {
				t.Fatalf("revoking twice: %v, want NotFound", err)
			}
			// Another user's session id is not found, and stays alive.
			carolID, carol := testkit.User(t, pool, "carol@example.com")
			pc, err := resolve(carol)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Revoke(ctx, aliceID, pc.SessionID); !errs.Is(err, errs.KindNotFound) {
				t.Fatalf("revoking another user's session: %v, want NotFound", err)
			}
			if p, err := resolve(carol); err != nil || p.UserID != carolID {
				t.Fatalf("carol after alice's attempt: %+v, %v", p, err)
			}
			if _, err := resolve(auth.NewToken()); !errs.Is(err, errs.KindUnauthenticated) {
				t.Fatalf("unknown token: %v", err)
			}
		})
	}
}

// RevokeAll ends every session of the user and drops their cached
// lookups, so none is honoured from the cache afterwards; another user's
// sessions stay.
func TestCachedSessionsRevokeAll(t *testing.T) {
	t.Parallel()
	for name, c := range cacheBackends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool := testkit.DB(t)
			s := auth.NewCachedSessions(auth.NewSessions(pool), c)
			aliceID, alice := testkit.User(t, pool, "alice@example.com")
			second, _, err := s.Create(ctx, nil, aliceID, auth.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			bobID, bob := testkit.User(t, pool, "bob@example.com")
			for _, tok := range []string{alice, second, bob} {
				if _, err := s.Resolve(ctx, tok); err != nil {
					t.Fatal(err)
				}
			}
			n, err := s.RevokeAll(ctx, aliceID)
			if err != nil || n != 2 {
				t.Fatalf("RevokeAll: %d, %v; want 2", n, err)
			}
			for _, tok := range []string{alice, second} {
				if _, err := s.Resolve(ctx, tok); !errs.Is(err, errs.KindUnauthenticated) {
					t.Fatalf("alice's session after RevokeAll: %v, want Unauthenticated", err)
				}
			}
			if p, err := s.Resolve(ctx, bob); err != nil || p.UserID != bobID {
				t.Fatalf("bob after alice's RevokeAll: %+v, %v", p, err)
			}
			if n, err := s.RevokeAll(ctx, aliceID); err != nil || n != 0 {
				t.Fatalf("RevokeAll again: %d, %v; want 0, nil", n, err)
			}
		})
	}
}

// The cache never holds a token, nor the hash the database stores.
func TestCachedSessionsKeepNoSecrets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testkit.DB(t)
	c := testkit.Redis(t, cache.Options{})
	s := auth.NewCachedSessions(auth.NewSessions(pool), c)
	_, token := testkit.User(t, pool, "dana@example.com")
	if _, err := s.Resolve(ctx, token); err != nil {
		t.Fatal(err)
	}
	rdb := c.Backend().(*cache.Redis).Client()
	var keys []string
	iter := rdb.Scan(ctx, 0, "*:sess:*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	hash := auth.HashToken(token)
	secrets := []string{token, hex.EncodeToString(hash), base64.RawURLEncoding.EncodeToString(hash), base64.StdEncoding.EncodeToString(hash), string(hash)}
	found := 0
	for _, k := range keys {
		if !strings.Contains(k, ":sess:") {
			continue
		}
		found++
		v, err := rdb.Get(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range secrets {
			if strings.Contains(k, secret) || strings.Contains(v, secret) {
				t.Fatalf("cache entry %q = %q holds the token or its stored hash", k, v)
			}
		}
	}
	if found == 0 {
		t.Fatalf("no session entry among %d keys", len(keys))
	}
}

func TestCachedSessionsWithoutCache(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	s := auth.NewCachedSessions(auth.NewSessions(pool), nil)
	id, token := testkit.User(t, pool, "erin@example.com")
	p, err := s.Resolve(context.Background(), token)
	if err != nil || p.UserID != id {
		t.Fatalf("%+v, %v", p, err)
	}
	if err := s.Revoke(context.Background(), id, p.SessionID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(context.Background(), token); !errs.Is(err, errs.KindUnauthenticated) {
		t.Fatal(err)
	}
}

// TestCachedSessionsFeaturesAndExpiry checks that cached sessions carry the
// user's current feature settings and stop at their expiry.
func TestCachedSessionsFeaturesAndExpiry(t *testing.T) {
	t.Parallel()
	for name, c := range cacheBackends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool := testkit.DB(t)
			s := auth.NewCachedSessions(auth.NewSessions(pool), c)
			userID, token := testkit.User(t, pool, "flags@example.com")
			for i := 0; i < 2; i++ { // load, then hit
				p, err := s.Resolve(ctx, token)
				if err != nil || p.Features[string(feature.AIAgents)] {
					t.Fatalf("resolve %d: %+v %v", i, p, err)
				}
			}
			if _, err := feature.NewSettings(pool).WithCache(c).Set(ctx, userID, feature.AIAgents, true); err != nil {
				t.Fatal(err)
			}
			p, err := s.Resolve(ctx, token)
			if err != nil || !p.Features[string(feature.AIAgents)] {
				t.Fatalf("after enabling a flag the cached session says %+v, %v", p, err)
			}
			if p.Renewed {
				t.Errorf("a cache hit claims to have renewed the session")
			}
			// Expiry is honoured by a cached entry too.
			if _, err := pool.Exec(ctx, "update sessions set expires_at = now() + interval '3 seconds' where user_id = $1", userID); err != nil {
				t.Fatal(err)
			}
			s.Forget(ctx, token)
			if _, err := s.Resolve(ctx, token); err != nil {
				t.Fatal(err)
			}
			time.Sleep(3100 * time.Millisecond)
			if _, err := s.Resolve(ctx, token); !errs.Is(err, errs.KindUnauthenticated) {
				t.Fatalf("expired session served from the cache: %v", err)
			}
		})
	}
}
