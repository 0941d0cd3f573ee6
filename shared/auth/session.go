// Package auth resolves who is calling: sessions (random bearer tokens
// stored only as hashes) and the principal they carry through a request.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
)

// SessionTTL is how long a session lives without use.
const SessionTTL = 7 * 24 * time.Hour

// DefaultMaxAge is a session's absolute lifetime unless configured
// otherwise (SESSION_MAX_AGE): however often it is used, a session ends
// this long after it was created, and its user signs in again.
const DefaultMaxAge = 30 * 24 * time.Hour

// RenewAfter is how often a session in use is renewed: its expiry moves
// to SessionTTL from then. Between renewals, using a session writes
// nothing.
const RenewAfter = 24 * time.Hour

// tokenBytes is the entropy of a session token: 256 bits.
const tokenBytes = 32

// Principal is the signed-in caller of a request.
type Principal struct {
	UserID    uuid.UUID
	SessionID uuid.UUID
	// Features are the user's own feature settings (users.features), read
	// with the session; shared/feature evaluates them.
	Features map[string]bool
	// ExpiresAt is when the session ends unless renewed; never later
	// than its creation plus the store's maximum age.
	ExpiresAt time.Time
	// Renewed is true when resolving this request renewed the session, so
	// a cookie carrying it should be sent again with the new expiry.
	Renewed bool
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// From returns the principal of the request ctx belongs to.
func From(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// UserID returns the signed-in user of ctx. Routes that require a session
// never run without one, so a missing principal there is a bug; it is
// reported as Unauthenticated rather than trusted.
func UserID(ctx context.Context) (uuid.UUID, error) {
	p, ok := From(ctx)
	if !ok {
		return uuid.Nil, errs.Unauthenticated("Authentication required")
	}
	return p.UserID, nil
}

// Session is a stored session.
type Session struct {
	ID         uuid.UUID `db:"id"`
	UserID     uuid.UUID `db:"user_id"`
	CreatedAt  time.Time `db:"created_at"`
	LastUsedAt time.Time `db:"last_used_at"`
	ExpiresAt  time.Time `db:"expires_at"`
	UserAgent  *string   `db:"user_agent"`
	IP         *string   `db:"ip"`
}

// Sessions stores and resolves sessions.
type Sessions struct {
	db  db.Querier
	now func() time.Time
	// maxAge is a session's absolute lifetime: renewal never moves its
	// expiry past its creation plus maxAge.
	maxAge time.Duration
}

// NewSessions returns the session store on q, with DefaultMaxAge.
func NewSessions(q db.Querier) *Sessions {
	return &Sessions{db: q, now: time.Now, maxAge: DefaultMaxAge}
}

// WithMaxAge sets the sessions' absolute lifetime (SESSION_MAX_AGE) and
// returns s. It applies to existing sessions too: lowering it ends those
// older than the new value at their next use. A d of zero or less keeps
// the current value.
func (s *Sessions) WithMaxAge(d time.Duration) *Sessions {
	if d > 0 {
		s.maxAge = d
	}
	return s
}

// MaxAge is the sessions' absolute lifetime.
func (s *Sessions) MaxAge() time.Duration { return s.maxAge }

// Meta describes the client a session is created for.
type Meta struct {
	UserAgent string
	IP        string
}

// NewToken returns a random 256-bit token, URL-safe base64 without padding.
func NewToken() string {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashToken is the stored form of a token.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Create starts a session for userID and returns its token, which exists
// only in the return value: the store keeps its hash.
func (s *Sessions) Create(ctx context.Context, q db.Querier, userID uuid.UUID, m Meta) (string, Session, error) {
	if q == nil {
		q = s.db
	}
	token := NewToken()
	id, err := uuid.NewV7()
	if err != nil {
		return "", Session{}, err
	}
	rows, err := q.Query(ctx, `insert into sessions (id, user_id, token_hash, expires_at, user_agent, ip)
		values ($1, $2, $3, $4, nullif($5, ''), nullif($6, ''))
		returning id, user_id, created_at, last_used_at, expires_at, user_agent, ip`,
		id, userID, HashToken(token), s.now().Add(min(SessionTTL, s.maxAge)), truncate(m.UserAgent, 512), truncate(m.IP, 64))
	if err != nil {
		return "", Session{}, db.Err(err, "session")
	}
	sess, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Session])
	if err != nil {
		return "", Session{}, db.Err(err, "session")
	}
	return token, sess, nil
}

// errNoSession is the one answer to every unusable token, so a caller
// cannot tell a wrong token from an expired or revoked one.
var errNoSession = errs.Unauthenticated("Authentication required")

// Resolve returns the principal of a live session with this token, with
// its user's feature settings, in one query. A session last renewed more
// than RenewAfter ago is renewed (the only write Resolve makes): its
// expiry moves to SessionTTL from now, but never past its creation plus
// the maximum age, so a session in daily use still ends then.
// Errors: Unauthenticated for an unknown, expired or revoked token, or a
// session older than the maximum age.
func (s *Sessions) Resolve(ctx context.Context, token string) (Principal, error) {
	if len(token) < 16 || len(token) > 256 {
		return Principal{}, errNoSession
	}
	var p Principal
	// users.features raw: most users have none ({}), and decoding an
	// empty object through pgx's JSON plan costs a map and a plan each
	// request.
	var features []byte
	var stale bool
	err := s.db.QueryRow(ctx, `select s.id, s.user_id, least(s.expires_at, s.created_at + $3::interval), u.features,
			s.last_used_at < now() - $2::interval
		from sessions s join users u on u.id = s.user_id
		where s.token_hash = $1 and s.expires_at > now() and s.created_at + $3::interval > now()`,
		HashToken(token), RenewAfter, s.maxAge).Scan(&p.SessionID, &p.UserID, &p.ExpiresAt, &features, &stale)
	if errors.Is(err, pgx.ErrNoRows) {
		return Principal{}, errNoSession
	}
	if err != nil {
		return Principal{}, fmt.Errorf("resolve session: %w", db.Err(err, "session"))
	}
	if p.Features, err = userFeatures(features); err != nil {
		return Principal{}, fmt.Errorf("resolve session: %w", err)
	}
	if stale {
		// The condition repeats the check so that concurrent requests
		// renew once. The expiry is capped at the absolute lifetime.
		err := s.db.QueryRow(ctx, `update sessions set last_used_at = now(),
				expires_at = least(now() + $2::interval, created_at + $4::interval)
			where id = $1 and last_used_at < now() - $3::interval returning expires_at`,
			p.SessionID, SessionTTL, RenewAfter, s.maxAge).Scan(&p.ExpiresAt)
		switch {
		case err == nil:
			p.Renewed = true
		case db.IsUnavailable(err):
			// The session is good: a database restarting now renews it
			// on a later request rather than failing this one.
		case !errors.Is(err, pgx.ErrNoRows):
			return Principal{}, fmt.Errorf("renew session: %w", db.Err(err, "session"))
		}
	}
	return p, nil
}

// userFeatures reads users.features: its boolean settings (others are
// ignored), nil for none.
func userFeatures(raw []byte) (map[string]bool, error) {
	if len(raw) == 0 || string(raw) == "{}" || string(raw) == "null" {
		return nil, nil
	}
	var all map[string]any
	if err := json.Unmarshal(raw, &all); err != nil {
		return nil, fmt.Errorf("user features: %w", err)
	}
	out := make(map[string]bool, len(all))
	for k, v := range all {
		if on, ok := v.(bool); ok {
			out[k] = on
		}
	}
	return out, nil
}

// List returns the user's live sessions, newest first (at most 100).
func (s *Sessions) List(ctx context.Context, userID uuid.UUID) ([]Session, error) {
	rows, err := s.db.Query(ctx, `select id, user_id, created_at, last_used_at,
			least(expires_at, created_at + $2::interval) as expires_at, user_agent, ip
		from sessions where user_id = $1 and expires_at > now() and created_at + $2::interval > now()
		order by created_at desc, id desc limit 100`, userID, s.maxAge)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", db.Err(err, "session"))
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Session])
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", db.Err(err, "session"))
	}
	return out, nil
}

// Revoke ends the user's session id. Errors: NotFound.
func (s *Sessions) Revoke(ctx context.Context, userID, id uuid.UUID) error {
	tag, err := s.db.Exec(ctx, `delete from sessions where user_id = $1 and id = $2`, userID, id)
	if err != nil {
		return db.Err(err, "session")
	}
	if tag.RowsAffected() == 0 {
		return errs.NotFound("session")
	}
	return nil
}

// RevokeAll ends every session of the user, the caller's own included, and
// returns the stored hashes of their tokens (for the cache to drop its
// entries of them). Ending none is not an error.
func (s *Sessions) RevokeAll(ctx context.Context, userID uuid.UUID) ([][]byte, error) {
	rows, err := s.db.Query(ctx, `delete from sessions where user_id = $1 returning token_hash`, userID)
	if err != nil {
		return nil, fmt.Errorf("revoke sessions: %w", db.Err(err, "session"))
	}
	hashes, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("revoke sessions: %w", db.Err(err, "session"))
	}
	return hashes, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
