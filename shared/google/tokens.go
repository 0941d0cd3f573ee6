package google

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/sealbox"
)

// Provider is the accounts.provider of Google accounts.
const Provider = "google"

// RefreshLeeway is how long before its expiry an access token is
// refreshed, so that a call made with it does not fail half-way.
const RefreshLeeway = 2 * time.Minute

// Refresher obtains new tokens with a refresh token; *Client is one.
type Refresher interface {
	Refresh(ctx context.Context, refreshToken string) (*oauth2.Token, error)
}

// Store is the database the token store works on.
type Store interface {
	db.Querier
	db.Beginner
}

// Tokens keeps each Google account's tokens in its accounts row, sealed
// (AES-256-GCM, bound to the account and column), and hands out access
// tokens that are valid, refreshing them when they are about to expire.
type Tokens struct {
	db  Store
	g   Refresher
	box *sealbox.Box
	now func() time.Time
}

// NewTokens returns the token store on store, refreshing through g and
// sealing with box.
func NewTokens(store Store, g Refresher, box *sealbox.Box) *Tokens {
	return &Tokens{db: store, g: g, box: box, now: time.Now}
}

// ReconsentError says that an account's grant is gone (revoked by the
// person, expired, or never given offline): no token can be had until the
// person signs in again and consents. It is permanent for jobs
// (errs.IsPermanent) and Forbidden for the API.
type ReconsentError struct {
	AccountID uuid.UUID
}

func (e *ReconsentError) Error() string {
	return fmt.Sprintf("google account %s needs consent again", e.AccountID)
}

// Unwrap gives the error its kind and client-safe message.
func (e *ReconsentError) Unwrap() error { return errReconsent }

// Permanent marks the error as one retrying cannot fix.
func (e *ReconsentError) Permanent() bool { return true }

// ReconnectMessage is what a person reads when their Google account's
// grant is gone.
const ReconnectMessage = "Reconnect your Google account: its access has expired or was revoked. Sign in with Google again to restore it"

var errReconsent = errs.Forbidden(ReconnectMessage)

// TokensFromConfig returns the client cfg describes (see FromConfig) and
// the token store on store, sealing with TOKEN_KEYS. It does no I/O.
// Errors: a bad Google configuration or TOKEN_KEYS.
func TokensFromConfig(cfg *config.Config, store Store) (*Client, *Tokens, error) {
	g, err := FromConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	box, err := cfg.TokenBox()
	if err != nil {
		return nil, nil, err
	}
	return g, NewTokens(store, g, box), nil
}

// The sealed columns of accounts.
const (
	colAccess  = "access_token"
	colRefresh = "refresh_token"
	colID      = "id_token"
)

// AdditionalData binds a sealed value to its account and column.
func AdditionalData(accountID uuid.UUID, column string) []byte {
	return []byte("accounts/" + accountID.String() + "/" + column)
}

func (t *Tokens) seal(accountID uuid.UUID, column, value string) []byte {
	if value == "" {
		return nil
	}
	return t.box.Seal([]byte(value), AdditionalData(accountID, column))
}

func (t *Tokens) open(accountID uuid.UUID, column string, sealed []byte) (string, error) {
	if sealed == nil {
		return "", nil
	}
	b, err := t.box.Open(sealed, AdditionalData(accountID, column))
	if err != nil {
		return "", fmt.Errorf("open %s of account %s: %w", column, accountID, err)
	}
	return string(b), nil
}

// Save stores tok as the tokens of the user's account, sealed, in q (the
// caller's transaction or the pool). A token without a refresh token keeps
// the stored one (Google sends one only at consent); a new refresh token
// clears the account's need for consent. Saving connects a disconnected
// account again. Errors: NotFound.
func (t *Tokens) Save(ctx context.Context, q db.Querier, userID, accountID uuid.UUID, tok *oauth2.Token) error {
	if q == nil {
		q = t.db
	}
	if tok == nil || tok.AccessToken == "" {
		return errors.New("save tokens: no access token")
	}
	idToken, _ := tok.Extra("id_token").(string)
	scope, _ := tok.Extra("scope").(string)
	var expires *time.Time
	if !tok.Expiry.IsZero() {
		e := tok.Expiry.UTC()
		expires = &e
	}
	tag, err := q.Exec(ctx, `update accounts set
			access_token = $3,
			refresh_token = coalesce($4, refresh_token),
			id_token = coalesce($5, id_token),
			token_type = nullif($6, ''),
			scope = coalesce(nullif($7, ''), scope),
			expires_at = $8,
			needs_reconsent = needs_reconsent and $4::bytea is null,
			disconnected_at = null,
			updated_at = now()
		where user_id = $1 and id = $2`,
		userID, accountID,
		t.seal(accountID, colAccess, tok.AccessToken),
		t.seal(accountID, colRefresh, tok.RefreshToken),
		t.seal(accountID, colID, idToken),
		tok.TokenType, scope, expires)
	if err != nil {
		return fmt.Errorf("save tokens of account %s: %w", accountID, db.Err(err, "account"))
	}
	if tag.RowsAffected() == 0 {
		return errs.NotFound("account")
	}
	return nil
}

// AccountOf returns the id of the user's Google account. Errors: NotFound.
func (t *Tokens) AccountOf(ctx context.Context, userID uuid.UUID) (uuid.UUID, error) {
	var id uuid.UUID
	err := t.db.QueryRow(ctx, `select id from accounts where user_id = $1 and provider = $2 order by created_at limit 1`, userID, Provider).Scan(&id)
	if err != nil {
		return uuid.Nil, db.Err(err, "Google account")
	}
	return id, nil
}

type stored struct {
	access, refresh []byte
	tokenType       *string
	expires         *time.Time
	reconsent       bool
	disconnected    bool
}

const selectStored = `select access_token, refresh_token, token_type, expires_at, needs_reconsent, disconnected_at is not null
	from accounts where user_id = $1 and id = $2 and provider = '` + Provider + `'`

func scanStored(row pgx.Row) (stored, error) {
	var s stored
	err := row.Scan(&s.access, &s.refresh, &s.tokenType, &s.expires, &s.reconsent, &s.disconnected)
	return s, err
}

func (t *Tokens) fresh(s stored) bool {
	return s.access != nil && (s.expires == nil || s.expires.After(t.now().Add(RefreshLeeway)))
}

func (t *Tokens) token(accountID uuid.UUID, s stored) (*oauth2.Token, error) {
	access, err := t.open(accountID, colAccess, s.access)
	if err != nil {
		return nil, err
	}
	tok := &oauth2.Token{AccessToken: access, TokenType: "Bearer"}
	if s.tokenType != nil {
		tok.TokenType = *s.tokenType
	}
	if s.expires != nil {
		tok.Expiry = *s.expires
	}
	return tok, nil
}

// Token returns a valid access token of the user's Google account
// (without its refresh token), refreshing it at Google when it expires
// within RefreshLeeway. Concurrent calls for one account, in any number of
// processes, make one refresh: the refresh happens under the account row's
// lock, and whoever waited for the lock finds the new token. A rotated
// refresh token is stored.
//
// Errors: NotFound (no such account of this user, and *DisconnectedError
// when its person disconnected it); *ReconsentError when the grant is
// gone, after marking the account as needing consent;
// Unavailable when Google or the database cannot be reached.
func (t *Tokens) Token(ctx context.Context, userID, accountID uuid.UUID) (*oauth2.Token, error) {
	s, err := scanStored(t.db.QueryRow(ctx, selectStored, userID, accountID))
	if err != nil {
		return nil, fmt.Errorf("read tokens of account %s: %w", accountID, db.Err(err, "account"))
	}
	if s.disconnected {
		return nil, &DisconnectedError{AccountID: accountID}
	}
	if s.reconsent {
		return nil, &ReconsentError{AccountID: accountID}
	}
	if t.fresh(s) {
		return t.token(accountID, s)
	}
	return t.refresh(ctx, userID, accountID, func(s stored) (bool, error) { return t.fresh(s), nil })
}

// Renew returns a new access token of the user's account because
// rejected, an access token that has not expired, was refused by one of
// Google's APIs (401: the person revoked the app's access, changed their
// password, or Google ended the token early). Unless another caller has
// stored a new token meanwhile, it refreshes at Google, as Token does:
// under the account row's lock, once however many callers were refused.
//
// Errors: as Token's; *ReconsentError when the refresh answers that the
// grant is gone, after marking the account as needing consent.
func (t *Tokens) Renew(ctx context.Context, userID, accountID uuid.UUID, rejected string) (*oauth2.Token, error) {
	return t.refresh(ctx, userID, accountID, func(s stored) (bool, error) {
		if !t.fresh(s) {
			return false, nil
		}
		access, err := t.open(accountID, colAccess, s.access)
		return access != rejected, err
	})
}

// refresh refreshes the account's access token at Google under the
// account row's lock, unless usable says the stored token (as the lock
// found it) can be used as it is.
func (t *Tokens) refresh(ctx context.Context, userID, accountID uuid.UUID, usable func(stored) (bool, error)) (*oauth2.Token, error) {
	var out *oauth2.Token
	var gone bool
	err := db.InTx(ctx, t.db, func(tx db.Tx) error {
		out, gone = nil, false // InTx may run this twice
		s, err := scanStored(tx.QueryRow(ctx, selectStored+" for update", userID, accountID))
		if err != nil {
			return fmt.Errorf("lock account %s: %w", accountID, db.Err(err, "account"))
		}
		if s.disconnected {
			return &DisconnectedError{AccountID: accountID}
		}
		if s.reconsent {
			gone = true
			return nil
		}
		ok, err := usable(s)
		if err != nil {
			return err
		}
		if ok { // refreshed while this call waited for the lock
			out, err = t.token(accountID, s)
			return err
		}
		refresh, err := t.open(accountID, colRefresh, s.refresh)
		if err != nil {
			return err
		}
		var tok *oauth2.Token
		if refresh != "" {
			tok, err = t.g.Refresh(ctx, refresh)
		}
		if refresh == "" || errors.Is(err, ErrInvalidGrant) {
			gone = true
			_, err := tx.Exec(ctx, `update accounts set needs_reconsent = true, updated_at = now() where id = $1`, accountID)
			return db.Err(err, "account")
		}
		if err != nil {
			return fmt.Errorf("refresh account %s: %w", accountID, err)
		}
		if err := t.Save(ctx, tx, userID, accountID, tok); err != nil {
			return err
		}
		out = &oauth2.Token{AccessToken: tok.AccessToken, TokenType: tok.TokenType, Expiry: tok.Expiry}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if gone {
		return nil, &ReconsentError{AccountID: accountID}
	}
	return out, nil
}

// NeedsReconsent reports whether the user's account must be consented to
// again before its tokens can be used. Errors: NotFound.
func (t *Tokens) NeedsReconsent(ctx context.Context, q db.Querier, userID, accountID uuid.UUID) (bool, error) {
	if q == nil {
		q = t.db
	}
	var has, gone bool
	err := q.QueryRow(ctx, `select refresh_token is not null, needs_reconsent from accounts where user_id = $1 and id = $2`, userID, accountID).Scan(&has, &gone)
	if err != nil {
		return false, db.Err(err, "account")
	}
	return !has || gone, nil
}

// Ungrant records that the user's account turned out not to grant s
// (Google answered a call with ACCESS_TOKEN_SCOPE_INSUFFICIENT): s's
// scopes leave the account's stored scopes, so that nothing enqueues work
// that needs them until the person grants them at their next sign-in,
// which stores the scopes Google lists then. Errors: the database's.
func (t *Tokens) Ungrant(ctx context.Context, userID, accountID uuid.UUID, s Service) error {
	_, err := t.db.Exec(ctx, `update accounts set
			scope = (select string_agg(sc, ' ' order by n) from unnest(string_to_array(scope, ' ')) with ordinality as u(sc, n)
				where sc <> all($3::text[])),
			updated_at = now()
		where user_id = $1 and id = $2`, userID, accountID, s.Scopes)
	if err != nil {
		return fmt.Errorf("record account %s without %s: %w", accountID, s.Name, db.Err(err, "account"))
	}
	return nil
}
