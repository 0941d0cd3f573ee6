package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/feature"
	"github.com/personalcrm/core/shared/logging"
)

// SessionCacheTTL is how long a resolved session is served from the cache.
// A revocation through CachedSessions drops the entry at once; a session
// that merely expires is honoured at most this much longer.
const SessionCacheTTL = 30 * time.Second

// CachedSessions is the session store with resolved tokens cached for
// SessionCacheTTL, so that a signed request usually costs no query to
// resolve its session. Methods it does not override are the store's own.
//
// Cache entries hold the session's ids and expiry, under a key that is a
// hash of the stored token hash: neither the token nor its stored hash
// appears in the cache. An expired session is refused on the dot. Anything
// that ends sessions must drop their entries (Revoke, RevokeAll and Forget
// do).
//
// Every function that uses the cache may write any key of it (public
// /health included), so entries are not trusted as written: each carries
// an HMAC, under a key derived from AUTH_SECRET for this use alone, of its
// contents and of the cache key it is stored under (so an entry moved to
// another token's key fails too). An entry that fails the check is logged,
// deleted and ignored: the session is read from the database.
type CachedSessions struct {
	*Sessions
	cache *cache.Cache
	// key authenticates entries; without it the cache is not read.
	key []byte
	log *slog.Logger
	// users remembers which user each session cache key last resolved
	// to in this process: ReadAhead's guess of whose entries a request
	// will read. A guess only, never an answer (see ReadAhead).
	usersMu sync.Mutex
	users   map[string]uuid.UUID
}

// maxGuesses bounds CachedSessions.users; past it the map starts over.
const maxGuesses = 4096

func (s *CachedSessions) guess(ck string) (uuid.UUID, bool) {
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	u, ok := s.users[ck]
	return u, ok
}

func (s *CachedSessions) remember(ck string, u uuid.UUID) {
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	if s.users == nil || len(s.users) >= maxGuesses {
		s.users = make(map[string]uuid.UUID)
	}
	s.users[ck] = u
}

// ReadAhead returns ctx carrying, read in one round trip to the cache
// (cache.ReadAhead), the session entry of token and, for the user this
// token last resolved to in this process, that user's feature settings
// and the entries more names for them (a route's own reads). Resolve and
// the route's GetOrLoad calls, given the returned ctx, then take their
// entries from it: a cached request costs one round trip instead of one
// per entry.
//
// Nothing here decides who the caller is. The user is a guess from an
// earlier request, used only to name keys; Resolve still checks the
// session entry read in this same round trip (its HMAC and expiry), just
// as it checks an entry it reads itself, and a session revoked by any
// instance has lost that entry (Revoke deletes it before it returns), so
// it is not served. A wrong guess (the token now belongs to another
// user, which cannot happen, or the process forgot) only means the
// entries read ahead are not used: every entry of a user lies in that
// user's own scope, which GetOrLoad names from the resolved session, and
// entries of another scope are never taken for it. Nothing is cached in
// process: what was read ahead serves this request only.
func (s *CachedSessions) ReadAhead(ctx context.Context, token string, more func(userID uuid.UUID) []cache.Lookup) context.Context {
	if s.cache == nil || s.key == nil || len(token) < 16 || len(token) > 256 {
		return ctx
	}
	ck := cacheKey(HashToken(token))
	lookups := []cache.Lookup{{Key: ck}}
	if u, ok := s.guess(ck); ok {
		lookups = append(lookups, cache.Lookup{Scope: feature.Scope(u), Key: featuresKey})
		if more != nil {
			lookups = append(lookups, more(u)...)
		}
	}
	return s.cache.ReadAhead(ctx, lookups...)
}

// featuresKey names a user's feature settings in their feature.Scope
// (cachedFeatures; entries of the earlier unauthenticated form, under
// "settings", are never read and expire).
const featuresKey = "flags"

// CacheOptions configure CachedSessions.
type CacheOptions struct {
	// Secret is AUTH_SECRET, from which the key of the entries' HMAC is
	// derived. Without it sessions are not resolved through the cache
	// (entries are still dropped when sessions end).
	Secret []byte
	// Log receives a warning for each forged or tampered entry.
	Log *slog.Logger
}

// entryKeyLabel makes the entries' key differ from anything else derived
// from AUTH_SECRET.
const entryKeyLabel = "personalcrm session cache entry v1"

// NewCachedSessions puts cache c in front of s; with a nil c, or no
// Secret, it resolves through s alone.
func NewCachedSessions(s *Sessions, c *cache.Cache, o CacheOptions) *CachedSessions {
	cs := &CachedSessions{Sessions: s, cache: c, log: o.Log}
	if cs.log == nil {
		cs.log = logging.Discard()
	}
	if len(o.Secret) > 0 {
		m := hmac.New(sha256.New, o.Secret)
		m.Write([]byte(entryKeyLabel))
		cs.key = m.Sum(nil)
	}
	return cs
}

// cacheKey names the cache entry of the session whose stored hash is hash.
func cacheKey(hash []byte) string {
	h := sha256.Sum256(append([]byte("session:"), hash...))
	return "sess:" + base64.RawURLEncoding.EncodeToString(h[:])
}

// cachedSession is what the cache keeps of a resolved session.
type cachedSession struct {
	UserID    uuid.UUID `json:"u"`
	SessionID uuid.UUID `json:"s"`
	ExpiresAt time.Time `json:"e"`
	// MAC authenticates the rest and the cache key (mac).
	MAC []byte `json:"m"`
}

// mac is the HMAC of an entry stored under cache key ck.
func (s *CachedSessions) mac(ck string, e cachedSession) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(ck))
	m.Write([]byte{0})
	m.Write(e.UserID[:])
	m.Write(e.SessionID[:])
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(e.ExpiresAt.UnixNano())))
	return m.Sum(nil)
}

// Resolve returns the principal of a live session with this token. The
// session comes from the cache when it is there, and the user's feature
// settings from their own cache scope (feature.Scope), which a change of
// settings drops. Errors: Unauthenticated for an unknown, expired or
// revoked token (never cached).
func (s *CachedSessions) Resolve(ctx context.Context, token string) (Principal, error) {
	if len(token) < 16 || len(token) > 256 {
		return Principal{}, errNoSession
	}
	if s.cache == nil || s.key == nil {
		return s.Sessions.Resolve(ctx, token)
	}
	ck := cacheKey(HashToken(token))
	var fresh *Principal
	cs, err := cache.GetOrLoad(ctx, s.cache, cache.Scope{}, ck, SessionCacheTTL,
		func(ctx context.Context) (cachedSession, error) {
			p, err := s.Sessions.Resolve(ctx, token)
			if err != nil {
				return cachedSession{}, err
			}
			fresh = &p
			e := cachedSession{UserID: p.UserID, SessionID: p.SessionID, ExpiresAt: p.ExpiresAt}
			e.MAC = s.mac(ck, e)
			return e, nil
		})
	if err != nil {
		return Principal{}, err
	}
	if fresh != nil {
		// Read from the database just now, features and renewal included.
		s.remember(ck, fresh.UserID)
		return *fresh, nil
	}
	if !hmac.Equal(cs.MAC, s.mac(ck, cs)) {
		// Not written by this code: someone with access to the cache
		// planted or changed it. What it claims is logged (ids only),
		// never honoured; the database decides.
		s.log.WarnContext(ctx, "session cache entry failed authentication: ignored and deleted",
			"claimed_user_id", cs.UserID, "claimed_session_id", cs.SessionID)
		s.cache.Delete(ctx, cache.Scope{}, ck)
		return s.Sessions.Resolve(ctx, token)
	}
	if !cs.ExpiresAt.After(s.Sessions.now()) {
		return Principal{}, errNoSession
	}
	s.remember(ck, cs.UserID)
	features, err := s.features(ctx, cs.UserID)
	if err != nil {
		return Principal{}, err
	}
	return Principal{UserID: cs.UserID, SessionID: cs.SessionID, ExpiresAt: cs.ExpiresAt, Features: features}, nil
}

// cachedFeatures is a user's feature settings as the cache holds them.
type cachedFeatures struct {
	Flags map[string]bool `json:"f"`
	// MAC authenticates Flags and whose they are (featuresMAC).
	MAC []byte `json:"m"`
}

// features returns the user's feature settings, from the cache when an
// authenticated entry is there. Settings decide what a user may do (a
// feature gate), so an entry is trusted no more than a session entry: one
// planted by anyone who can write the cache, or another user's moved to
// this user's key, fails its HMAC and is logged, deleted and ignored.
func (s *CachedSessions) features(ctx context.Context, userID uuid.UUID) (map[string]bool, error) {
	settings := feature.NewSettings(s.Sessions.db)
	e, err := cache.GetOrLoad(ctx, s.cache, feature.Scope(userID), featuresKey, SessionCacheTTL,
		func(ctx context.Context) (cachedFeatures, error) {
			flags, err := settings.Get(ctx, userID)
			if err != nil {
				return cachedFeatures{}, err
			}
			return cachedFeatures{Flags: flags, MAC: s.featuresMAC(userID, flags)}, nil
		})
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(e.MAC, s.featuresMAC(userID, e.Flags)) {
		s.log.WarnContext(ctx, "feature settings cache entry failed authentication: ignored and deleted",
			"user_id", userID)
		s.cache.Delete(ctx, feature.Scope(userID), featuresKey)
		return settings.Get(ctx, userID)
	}
	return e.Flags, nil
}

// featuresMAC is the HMAC of a user's feature settings: the user and each
// flag, in name order, with its value.
func (s *CachedSessions) featuresMAC(userID uuid.UUID, flags map[string]bool) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("features\x00"))
	m.Write(userID[:])
	for _, name := range slices.Sorted(maps.Keys(flags)) {
		m.Write([]byte(name))
		if flags[name] {
			m.Write([]byte{0, 1})
		} else {
			m.Write([]byte{0, 0})
		}
	}
	return m.Sum(nil)
}

// Revoke ends the user's session id and drops its cached lookup.
// Errors: NotFound.
func (s *CachedSessions) Revoke(ctx context.Context, userID, id uuid.UUID) error {
	var hash []byte
	err := s.Sessions.db.QueryRow(ctx, `select token_hash from sessions where user_id = $1 and id = $2`, userID, id).Scan(&hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return errs.NotFound("session")
	}
	if err != nil {
		return db.Err(err, "session")
	}
	if err := s.Sessions.Revoke(ctx, userID, id); err != nil {
		return err
	}
	s.cache.Delete(ctx, cache.Scope{}, cacheKey(hash))
	return nil
}

// RevokeAll ends every session of the user ("sign out everywhere"), the
// caller's own included, and drops their cached lookups, so that none of
// their tokens works from the next request on. It returns how many
// sessions ended.
func (s *CachedSessions) RevokeAll(ctx context.Context, userID uuid.UUID) (int, error) {
	hashes, err := s.Sessions.RevokeAll(ctx, userID)
	if err != nil {
		return 0, err
	}
	for _, h := range hashes {
		s.cache.Delete(ctx, cache.Scope{}, cacheKey(h))
	}
	return len(hashes), nil
}

// Forget drops the cached lookup of token, for code that ends a session by
// its token (sign-out).
func (s *CachedSessions) Forget(ctx context.Context, token string) {
	s.cache.Delete(ctx, cache.Scope{}, cacheKey(HashToken(token)))
}

// ForgetHashes drops the cached lookups of the sessions whose stored
// hashes are hashes, for code that ends sessions in bulk (deleting their
// user).
func (s *CachedSessions) ForgetHashes(ctx context.Context, hashes [][]byte) {
	for _, h := range hashes {
		s.cache.Delete(ctx, cache.Scope{}, cacheKey(h))
	}
}
