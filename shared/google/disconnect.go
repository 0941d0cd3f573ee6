package google

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"
	"google.golang.org/api/googleapi"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
)

// DisconnectedError says that the account's person disconnected it: it
// holds no token until they sign in with Google again. It is NotFound for
// the API, and permanent for jobs.
type DisconnectedError struct {
	AccountID uuid.UUID
}

func (e *DisconnectedError) Error() string {
	return fmt.Sprintf("google account %s is disconnected", e.AccountID)
}

// Unwrap gives the error its kind and client-safe message.
func (e *DisconnectedError) Unwrap() error { return errDisconnected }

// Permanent marks the error as one retrying cannot fix.
func (e *DisconnectedError) Permanent() bool { return true }

var errDisconnected = &errs.Error{Kind: errs.KindNotFound, Message: "No Google account is connected; sign in with Google to connect one"}

// StopWatch asks Gmail to stop publishing the changes of the mailbox that
// accessToken reads (users.stop); a mailbox without a watch is no error.
// It is one POST without a body, made here rather than through
// google.golang.org/api/gmail/v1 so that the routes calling it do not link
// the Gmail client; googleapi reads Gmail's errors as the client would.
// Errors: as APIError's.
func (c *Client) StopWatch(ctx context.Context, accountID uuid.UUID, accessToken string) error {
	const what = "stop the mailbox's watch"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.ep.Gmail+"gmail/v1/users/me/stop", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	res, err := c.http.Do(req)
	if err != nil {
		return errs.Unavailable("Gmail", fmt.Errorf("%s: %w", what, err))
	}
	defer res.Body.Close()
	if err := googleapi.CheckResponse(res); err != nil {
		return APIError(Gmail, accountID, "Gmail is limiting requests", what, err)
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	return nil
}

// Revocation is what Google said when an account's grant was ended.
type Revocation string

// The outcomes of ending a grant.
const (
	// Revoked: Google confirmed that the grant is gone, ended now or
	// before (revoked at Google, or expired).
	Revoked Revocation = "revoked"
	// Unconfirmed: Google could not be reached, or refused; the grant may
	// still stand at Google.
	Unconfirmed Revocation = "unconfirmed"
	// NothingToRevoke: the account held no token.
	NothingToRevoke Revocation = "none"
)

// Ending is what ending an account's grant came to.
type Ending struct {
	Revocation Revocation
	// WatchStopped is true when Gmail confirmed that it no longer
	// publishes the mailbox's changes.
	WatchStopped bool
	// Err says, for the log, why the revocation is not confirmed or the
	// watch not stopped; nil when all went well.
	Err error
}

// GrantTimeout bounds the calls to Google of ending one grant, so that a
// Google that does not answer leaves time to finish locally.
const GrantTimeout = 8 * time.Second

// grantEnder is what EndGrant calls Google with; *Client is one.
type grantEnder interface {
	Refresher
	Revoke(ctx context.Context, token string) error
	StopWatch(ctx context.Context, accountID uuid.UUID, accessToken string) error
}

// EndGrant ends the grant of the user's account at Google, as far as
// Google answers within GrantTimeout: with an access token that is still
// good (refreshed when it is not, without storing it), it stops the
// mailbox's Gmail watch, so that Gmail stops publishing its changes; then
// it revokes the refresh token (the access token when there is none),
// which ends every token of the grant. It leaves the stored tokens as they
// are: Forget deletes them. Google's failures are not errors; the Ending
// says what Google confirmed. Errors: NotFound (no such account of this
// user); Unavailable (the database).
func (t *Tokens) EndGrant(ctx context.Context, userID, accountID uuid.UUID) (Ending, error) {
	var access, refresh []byte
	var expires *time.Time
	var scope *string
	err := t.db.QueryRow(ctx, `select access_token, refresh_token, expires_at, scope from accounts
		where user_id = $1 and id = $2 and provider = '`+Provider+`'`, userID, accountID).Scan(&access, &refresh, &expires, &scope)
	if err != nil {
		return Ending{}, fmt.Errorf("read tokens of account %s: %w", accountID, db.Err(err, "account"))
	}
	if access == nil && refresh == nil {
		return Ending{Revocation: NothingToRevoke}, nil
	}
	g, ok := t.g.(grantEnder)
	if !ok {
		return Ending{Revocation: Unconfirmed, Err: errors.New("the token store's client cannot revoke")}, nil
	}
	accessTok, err := t.open(accountID, colAccess, access)
	if err != nil {
		return Ending{Revocation: Unconfirmed, Err: err}, nil
	}
	refreshTok, err := t.open(accountID, colRefresh, refresh)
	if err != nil {
		return Ending{Revocation: Unconfirmed, Err: err}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, GrantTimeout)
	defer cancel()

	var out Ending
	var stopErr error
	stale := accessTok == "" || (expires != nil && !expires.After(t.now().Add(RefreshLeeway)))
	if stale && refreshTok != "" {
		tok, err := g.Refresh(ctx, refreshTok)
		switch {
		case errors.Is(err, ErrInvalidGrant):
			// Google says the grant is gone already.
			return Ending{Revocation: Revoked}, nil
		case err != nil:
			stopErr = err
		default:
			accessTok, stale = tok.AccessToken, false
		}
	}
	if !stale && scope != nil && Gmail.Granted(*scope) {
		stopErr = g.StopWatch(ctx, accountID, accessTok)
		out.WatchStopped = stopErr == nil
	}
	revoke := refreshTok
	if revoke == "" {
		revoke = accessTok
	}
	if err := g.Revoke(ctx, revoke); err != nil {
		out.Revocation, out.Err = Unconfirmed, errors.Join(err, stopErr)
		return out, nil
	}
	out.Revocation = Revoked
	if stopErr != nil {
		out.Err = fmt.Errorf("gmail watch not stopped: %w", stopErr)
	}
	return out, nil
}

// Forget deletes the tokens of the user's account in q (the caller's
// transaction or, nil, the pool) and marks it disconnected: nothing syncs
// or watches it, and no token of it can be had, until its person signs in
// with Google again. The account, and what was synced through it, stay.
// Forgetting an account twice keeps the first time. It returns when the
// account was disconnected. Errors: NotFound.
func (t *Tokens) Forget(ctx context.Context, q db.Querier, userID, accountID uuid.UUID) (time.Time, error) {
	if q == nil {
		q = t.db
	}
	var at time.Time
	err := q.QueryRow(ctx, `update accounts set access_token = null, refresh_token = null, id_token = null,
			token_type = null, scope = null, expires_at = null, needs_reconsent = false,
			disconnected_at = coalesce(disconnected_at, now()), updated_at = now()
		where user_id = $1 and id = $2 and provider = '`+Provider+`'
		returning disconnected_at`, userID, accountID).Scan(&at)
	if err != nil {
		return time.Time{}, fmt.Errorf("forget tokens of account %s: %w", accountID, db.Err(err, "account"))
	}
	return at, nil
}
