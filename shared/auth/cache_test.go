package auth_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/feature"
	"github.com/personalcrm/core/shared/testkit"
)

// testCacheOptions authenticate cached entries as AUTH_SECRET would.
var testCacheOptions = auth.CacheOptions{Secret: []byte(testAuthSecret)}

const testAuthSecret = "test-auth-secret-of-at-least-32-characters"

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
			s := auth.NewCachedSessions(auth.NewSessions(pool), c, testCacheOptions)
			aliceID, alice := testkit.User(t, pool, "alice@example.com")
			bobID, bob := testkit.User(t, pool, "bob@example.com")

			resolve := func(token string) (auth.Principal, error) {
				t.Helper()
				return s.Resolve(ctx, token)
			}
			pa, err := resolve(alice)
			if err != nil {
				t.Fatalf("alice: %v", err)
			}
			if pa.UserID != aliceID {
				t.Fatalf("alice resolves to user %v, want %v", pa.UserID, aliceID)
			}
			pb, err := resolve(bob)
			if err != nil {
				t.Fatalf("bob: %v", err)
			}
			if pb.UserID != bobID {
				t.Fatalf("bob resolves to user %v, want %v", pb.UserID, bobID)
			}
			// Cached: a second resolve costs no query, so it answers even
			// with the row gone behind the store's back...
			if _, err := pool.Exec(ctx, "delete from sessions where id = $1", pa.SessionID); err != nil {
				t.Fatal(err)
			}
			p, err := resolve(alice)
			if err != nil {
				t.Fatalf("cached alice: %v", err)
			}
			if p.UserID != pa.UserID {
				t.Fatalf("cached alice resolves to user %v, want %v", p.UserID, pa.UserID)
			}
			if p.SessionID != pa.SessionID {
				t.Fatalf("cached alice resolves to session %v, want %v", p.SessionID, pa.SessionID)
			}
			// ...until the sign-out drops the entry.
			s.Forget(ctx, alice)
			if _, err := resolve(alice); !errs.Is(err, errs.KindUnauthenticated) {
				t.Fatalf("after Forget: %v, want Unauthenticated", err)
			}

			// Revoke through the cached store takes effect at once.
			p, err = resolve(bob)
			if err != nil {
				t.Fatalf("bob again: %v", err)
			}
			if p.UserID != bobID {
				t.Fatalf("bob again resolves to user %v, want %v", p.UserID, bobID)
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
			p, err = resolve(carol)
			if err != nil {
				t.Fatalf("carol after alice's attempt: %v", err)
			}
			if p.UserID != carolID {
				t.Fatalf("carol after alice's attempt resolves to user %v, want %v", p.UserID, carolID)
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
			s := auth.NewCachedSessions(auth.NewSessions(pool), c, testCacheOptions)
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
			if err != nil {
				t.Fatalf("RevokeAll: %v", err)
			}
			if n != 2 {
				t.Fatalf("RevokeAll ended %d sessions, want 2", n)
			}
			for _, tok := range []string{alice, second} {
				if _, err := s.Resolve(ctx, tok); !errs.Is(err, errs.KindUnauthenticated) {
					t.Fatalf("alice's session after RevokeAll: %v, want Unauthenticated", err)
				}
			}
			p, err := s.Resolve(ctx, bob)
			if err != nil {
				t.Fatalf("bob after alice's RevokeAll: %v", err)
			}
			if p.UserID != bobID {
				t.Fatalf("bob after alice's RevokeAll resolves to user %v, want %v", p.UserID, bobID)
			}
			n, err = s.RevokeAll(ctx, aliceID)
			if err != nil {
				t.Fatalf("RevokeAll again: %v", err)
			}
			if n != 0 {
				t.Fatalf("RevokeAll again ended %d sessions, want 0", n)
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
	s := auth.NewCachedSessions(auth.NewSessions(pool), c, testCacheOptions)
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
	s := auth.NewCachedSessions(auth.NewSessions(pool), nil, testCacheOptions)
	id, token := testkit.User(t, pool, "erin@example.com")
	p, err := s.Resolve(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	if p.UserID != id {
		t.Fatalf("resolves to user %v, want %v", p.UserID, id)
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
			d := testkit.NewDatabase(t)
			wall := time.Now()
			// The session's expiry is honoured on the process's clock, which
			// in the bubble is fake: the entry expires without the test
			// waiting for it, and before the database would refuse it too.
			synctest.Test(t, func(t *testing.T) {
				// The bubble's clock starts in 2000: bring it to the wall
				// clock, which the database's times are on.
				time.Sleep(time.Until(wall))
				ctx := context.Background()
				pool := d.Pool(t) // in the bubble, which closes it
				s := auth.NewCachedSessions(auth.NewSessions(pool), c, testCacheOptions)
				userID, token := testkit.User(t, pool, "flags@example.com")
				for i := 0; i < 2; i++ { // load, then hit
					p, err := s.Resolve(ctx, token)
					if err != nil {
						t.Fatalf("resolve %d: %v", i, err)
					}
					if p.Features[string(feature.AIAgents)] {
						t.Fatalf("resolve %d: features %v, want %s off", i, p.Features, feature.AIAgents)
					}
				}
				if _, err := feature.NewSettings(pool).WithCache(c).Set(ctx, userID, feature.AIAgents, true); err != nil {
					t.Fatal(err)
				}
				p, err := s.Resolve(ctx, token)
				if err != nil {
					t.Fatalf("after enabling a flag: %v", err)
				}
				if !p.Features[string(feature.AIAgents)] {
					t.Fatalf("after enabling a flag the cached session says features %v", p.Features)
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
				// Well past the expiry, still within the entry's TTL
				// (auth.SessionCacheTTL): only the entry can refuse it.
				time.Sleep(10 * time.Second)
				if _, err := s.Resolve(ctx, token); !errs.Is(err, errs.KindUnauthenticated) {
					t.Fatalf("expired session served from the cache: %v", err)
				}
			})
		})
	}
}

// Anyone who can write the cache (every function that uses it, public
// /health included) can plant an entry under the key of a token they make
// up, claiming any user. Such entries, and genuine ones changed or moved to
// another token's key, fail their HMAC: they are logged, deleted and
// ignored, and the database decides. Real Redis, as in AWS.
// forgery is what the forged-entry tests share: cached sessions over real
// Redis, whose log they read, and a client to plant entries with.
type forgery struct {
	pool *db.Pool
	c    *cache.Cache
	s    *auth.CachedSessions
	logs *testkit.Buffer
	rdb  redis.UniversalClient
}

func newForgery(t *testing.T) forgery {
	t.Helper()
	f := forgery{pool: testkit.DB(t), c: testkit.Redis(t, cache.Options{}), logs: &testkit.Buffer{}}
	f.s = auth.NewCachedSessions(auth.NewSessions(f.pool), f.c,
		auth.CacheOptions{Secret: []byte(testAuthSecret), Log: slog.New(slog.NewJSONHandler(f.logs, nil))})
	f.rdb = f.c.Backend().(*cache.Redis).Client()
	return f
}

func TestForgedSessionCacheEntryIsIgnored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newForgery(t)
	pool, c, s, logs, rdb := f.pool, f.c, f.s, f.logs, f.rdb
	aliceID, alice := testkit.User(t, pool, "alice@example.com")
	victimID, _ := testkit.User(t, pool, "victim@example.com")

	// Alice's genuine entry, and from its name the cache's key prefix.
	if _, err := s.Resolve(ctx, alice); err != nil {
		t.Fatal(err)
	}
	var prefix string
	iter := rdb.Scan(ctx, 0, "*"+auth.CacheKeyOf(alice), 10).Iterator()
	for iter.Next(ctx) {
		prefix = strings.TrimSuffix(iter.Val(), auth.CacheKeyOf(alice))
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("scan Redis: %v", err)
	}
	if prefix == "" {
		t.Fatal("alice's session is not in Redis")
	}
	genuine, err := rdb.Get(ctx, prefix+auth.CacheKeyOf(alice)).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var entry map[string]any
	if err := json.Unmarshal(genuine, &entry); err != nil {
		t.Fatalf("genuine entry %s: %v", genuine, err)
	}
	if entry["m"] == nil {
		t.Fatalf("genuine entry %s carries no MAC", genuine)
	}

	forge := func(fields map[string]any) []byte {
		b, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	claim := map[string]any{"u": victimID, "s": uuid.New(), "e": time.Now().Add(time.Hour)}
	// A MAC under a key derived as the code does, from another secret.
	wrongKey := hmac.New(sha256.New, []byte("not-the-auth-secret-but-32-characters-long"))
	wrongKey.Write([]byte(auth.EntryKeyLabel))
	mac := hmac.New(sha256.New, wrongKey.Sum(nil))
	mac.Write([]byte("anything"))
	withWrongMAC := map[string]any{"u": victimID, "s": uuid.New(), "e": time.Now().Add(time.Hour), "m": mac.Sum(nil)}

	for _, tc := range []struct {
		name  string
		value []byte
	}{
		{"planted without a MAC", forge(claim)},
		{"planted with a MAC under another key", forge(withWrongMAC)},
		{"alice's genuine entry moved to another token's key", genuine},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			token := auth.NewToken() // made up: no session has it
			key := prefix + auth.CacheKeyOf(token)
			if err := rdb.Set(ctx, key, tc.value, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			p, err := s.Resolve(ctx, token)
			if !errs.Is(err, errs.KindUnauthenticated) {
				t.Fatalf("forged entry honoured: %+v, %v; want Unauthenticated", p, err)
			}
			if !strings.Contains(logs.String(), "session cache entry failed authentication") {
				t.Errorf("forged entry not logged: %q", logs.String())
			}
			if strings.Contains(logs.String(), token) {
				t.Error("the token was logged")
			}
			if n, _ := rdb.Exists(ctx, key).Result(); n != 0 {
				t.Error("forged entry left in the cache")
			}
		})
	}

	// Alice's own entry changed to claim the victim: the database answers,
	// with alice.
	logs.Reset()
	tampered := bytes.Replace(genuine, []byte(aliceID.String()), []byte(victimID.String()), 1)
	if err := rdb.Set(ctx, prefix+auth.CacheKeyOf(alice), tampered, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	p, err := s.Resolve(ctx, alice)
	if err != nil {
		t.Fatalf("tampered entry: %v", err)
	}
	if p.UserID != aliceID {
		t.Fatalf("tampered entry: resolved to %v, want alice %v from the database", p.UserID, aliceID)
	}
	if !strings.Contains(logs.String(), victimID.String()) {
		t.Errorf("the claimed user is not logged: %q", logs.String())
	}

	// Without AUTH_SECRET (a function that must not vouch for sessions)
	// the cache is not read at all.
	noKey := auth.NewCachedSessions(auth.NewSessions(pool), c, auth.CacheOptions{})
	token := auth.NewToken()
	if err := rdb.Set(ctx, prefix+auth.CacheKeyOf(token), forge(claim), time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if p, err := noKey.Resolve(ctx, token); !errs.Is(err, errs.KindUnauthenticated) {
		t.Fatalf("without a key, a planted entry resolved to %+v, %v", p, err)
	}
}

// A user's cached feature settings gate what they may do, so they are
// trusted no more than session entries: an entry changed to turn a feature
// on, or another user's entry moved to this user's key, fails its HMAC and
// is logged, deleted and ignored; the database decides. Real Redis.
func TestForgedFeatureSettingsEntryIsIgnored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newForgery(t)
	pool, s, logs, rdb := f.pool, f.s, f.logs, f.rdb
	aliceID, alice := testkit.User(t, pool, "alice@example.com")
	bobID, bob := testkit.User(t, pool, "bob@example.com")
	if _, err := feature.NewSettings(pool).Set(ctx, bobID, feature.AIAgents, true); err != nil {
		t.Fatal(err)
	}

	// entry resolves token until its user's settings are cached, and
	// returns their Redis key and value (a version stamp, then JSON).
	entry := func(token string, userID uuid.UUID) (key string, stamp, body []byte) {
		t.Helper()
		for range 5 {
			if _, err := s.Resolve(ctx, token); err != nil {
				t.Fatal(err)
			}
			keys, err := rdb.Keys(ctx, "*"+userID.String()+"*").Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				raw, err := rdb.Get(ctx, k).Bytes()
				if err != nil {
					continue
				}
				if i := bytes.Index(raw, []byte(`{"f":`)); i >= 0 {
					return k, raw[:i], raw[i:]
				}
			}
		}
		t.Fatalf("the settings of %s are not in Redis", userID)
		return "", nil, nil
	}
	aliceKey, aliceStamp, genuine := entry(alice, aliceID)
	_, _, bobs := entry(bob, bobID)
	var decoded struct {
		F map[string]bool `json:"f"`
		M []byte          `json:"m"`
	}
	if err := json.Unmarshal(genuine, &decoded); err != nil || decoded.M == nil {
		t.Fatalf("genuine entry %s: %v, or no MAC", genuine, err)
	}
	decoded.F = map[string]bool{string(feature.AIAgents): true}
	turnedOn, err := json.Marshal(decoded)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"changed to turn a feature on", turnedOn},
		{"another user's moved to this user's key", bobs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			forged := append(slices.Clone(aliceStamp), tc.body...)
			if err := rdb.Set(ctx, aliceKey, forged, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			p, err := s.Resolve(ctx, alice)
			if err != nil {
				t.Fatal(err)
			}
			if p.UserID != aliceID || p.Features[string(feature.AIAgents)] {
				t.Fatalf("forged settings honoured: %+v", p)
			}
			if !strings.Contains(logs.String(), "feature settings cache entry failed authentication") {
				t.Errorf("forged entry not logged: %q", logs.String())
			}
			if got, _ := rdb.Get(ctx, aliceKey).Bytes(); bytes.Equal(got, forged) {
				t.Error("forged entry left in the cache")
			}
		})
	}

	// Bob's own entry still turns his feature on.
	p, err := s.Resolve(ctx, bob)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Features[string(feature.AIAgents)] {
		t.Fatalf("bob's genuine settings lost: %+v", p)
	}
}
