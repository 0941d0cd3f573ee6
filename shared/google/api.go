package google

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/oauth2"
)

// DefaultAPITimeout bounds one call to one of Google's APIs (Options.
// APITimeout): a call that hangs fails as unavailable, and the job
// retries, instead of spending the whole invocation waiting.
const DefaultAPITimeout = 30 * time.Second

// APIClient returns an HTTP client for Google's APIs (Gmail, People)
// acting as the user's account: it authorizes each request with the
// account's access token from t, reused until shortly before it expires.
//
// When an API answers 401 although the token has not expired (the person
// removed the app's access or changed their password, or Google ended
// the token early), the client renews the token once (Tokens.Renew) and
// sends the request once more. If the grant is gone, Renew marks the
// account as needing consent and the request fails with *ReconsentError,
// which the caller's error chain keeps (see APIError). Each call is
// bounded by the client's APITimeout.
func (c *Client) APIClient(ctx context.Context, t *Tokens, userID, accountID uuid.UUID) *http.Client {
	base := c.http.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	return &http.Client{
		Timeout:   c.apiTimeout,
		Transport: &apiTransport{base: base, src: &accountTokens{t: t, userID: userID, accountID: accountID}},
	}
}

// accountTokens are one account's access tokens, as its API client uses
// them.
type accountTokens struct {
	t                 *Tokens
	userID, accountID uuid.UUID

	mu  sync.Mutex
	tok *oauth2.Token
}

// token returns the access token to use, from the store when the one at
// hand is about to expire.
func (a *accountTokens) token(ctx context.Context) (*oauth2.Token, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tok != nil && (a.tok.Expiry.IsZero() || time.Until(a.tok.Expiry) > RefreshLeeway) {
		return a.tok, nil
	}
	tok, err := a.t.Token(ctx, a.userID, a.accountID)
	if err != nil {
		return nil, err
	}
	a.tok = tok
	return tok, nil
}

// renew replaces rejected, an access token an API refused.
func (a *accountTokens) renew(ctx context.Context, rejected *oauth2.Token) (*oauth2.Token, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tok != nil && a.tok.AccessToken != rejected.AccessToken {
		return a.tok, nil // another request of this client renewed it
	}
	tok, err := a.t.Renew(ctx, a.userID, a.accountID, rejected.AccessToken)
	if err != nil {
		return nil, err
	}
	a.tok = tok
	return tok, nil
}

// apiTransport authorizes requests with an account's tokens and retries
// a request refused with 401 once with a renewed token.
type apiTransport struct {
	base http.RoundTripper
	src  *accountTokens
}

func (t *apiTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	tok, err := t.src.token(ctx)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	res, err := t.base.RoundTrip(authorized(req, tok, req.Body))
	if err != nil || res.StatusCode != http.StatusUnauthorized {
		return res, err
	}
	var body io.ReadCloser = http.NoBody
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return res, nil // the body is spent: the caller sees the 401
		}
		if body, err = req.GetBody(); err != nil {
			return res, nil
		}
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	tok, err = t.src.renew(ctx, tok)
	if err != nil {
		body.Close()
		return nil, err
	}
	return t.base.RoundTrip(authorized(req, tok, body))
}

// authorized is a copy of req with body and tok's Authorization header;
// a RoundTripper must not change the request it is given.
func authorized(req *http.Request, tok *oauth2.Token, body io.ReadCloser) *http.Request {
	r := req.Clone(req.Context())
	r.Body = body
	tok.SetAuthHeader(r)
	return r
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
