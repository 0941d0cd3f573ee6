package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
)

// StateTTL is how long a sign-in may take between leaving for Google and
// coming back.
const StateTTL = 10 * time.Minute

// stateIdentifier marks sign-in states among verification_tokens.
const stateIdentifier = "google-sign-in"

// States keeps the state of sign-ins in flight: a random value that goes
// to the browser (cookie) and to Google (the state parameter), stored
// hashed with a short expiry and usable once. The PKCE verifier is derived
// from the state with the server's secret, so it is never stored.
type States struct {
	db     db.Querier
	secret []byte
}

// NewStates returns the state store on q, deriving verifiers with secret
// (AUTH_SECRET).
func NewStates(q db.Querier, secret []byte) *States {
	return &States{db: q, secret: secret}
}

// Begin starts a sign-in and returns its state and PKCE verifier. consent
// records whether Google is asked for consent this time; returnTo is where
// the browser goes once the sign-in is over, kept with the state so that
// nothing the browser brings back can change it.
func (s *States) Begin(ctx context.Context, consent bool, returnTo string) (state, verifier string, err error) {
	state = NewToken()
	// Expired states are cleared as new ones come: sign-ins are rare
	// enough that this costs nothing, and the table stays small.
	_, err = s.db.Exec(ctx, `with expired as (
			delete from verification_tokens where identifier = $1 and expires_at < now()
		)
		insert into verification_tokens (identifier, token_hash, data, expires_at)
		values ($1, $2, jsonb_build_object('consent', $3::boolean, 'returnTo', $5::text), now() + $4::interval)`,
		stateIdentifier, HashToken(state), consent, StateTTL, returnTo)
	if err != nil {
		return "", "", fmt.Errorf("store sign-in state: %w", db.Err(err, "sign-in state"))
	}
	return state, s.Verifier(state), nil
}

// Verifier is the PKCE verifier of state: 256 bits derived with the
// secret, 43 characters of URL-safe base64 as RFC 7636 asks.
func (s *States) Verifier(state string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("pkce-verifier\x00" + state))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ErrState is the answer to a sign-in state that is unknown, expired or
// already used.
var ErrState = errs.Field("state", "is unknown, expired or already used; start signing in again")

// Pending is a sign-in in flight, as Finish gives it back.
type Pending struct {
	// Verifier is the state's PKCE verifier.
	Verifier string
	// Consent says whether Google was asked for consent.
	Consent bool
	// ReturnTo is where the browser goes next, as Begin was given it.
	ReturnTo string
}

// Finish uses up state and returns its sign-in. Errors: ErrState
// (Invalid).
func (s *States) Finish(ctx context.Context, state string) (Pending, error) {
	if len(state) < 16 || len(state) > 256 {
		return Pending{}, ErrState
	}
	// Waits out a restart of the database for a few seconds when the
	// state was certainly not used up yet.
	var p Pending
	err := db.Retry(ctx, 5*time.Second, db.NotRun, func() error {
		return s.db.QueryRow(ctx, `delete from verification_tokens
			where identifier = $1 and token_hash = $2 and expires_at > now()
			returning coalesce((data->>'consent')::boolean, false), coalesce(data->>'returnTo', '')`,
			stateIdentifier, HashToken(state)).Scan(&p.Consent, &p.ReturnTo)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Pending{}, ErrState
	}
	if err != nil {
		return Pending{}, fmt.Errorf("use sign-in state: %w", db.Err(err, "sign-in state"))
	}
	p.Verifier = s.Verifier(state)
	return p, nil
}
