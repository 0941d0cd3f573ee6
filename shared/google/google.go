// Package google is the client of Google's OAuth 2.0 and OpenID Connect
// endpoints: the sign-in redirect, the code exchange with PKCE, the profile
// of the signed-in person, token refresh and revocation, and the store of
// each account's tokens, encrypted at rest and refreshed when needed.
//
// The OAuth protocol is golang.org/x/oauth2's. Outside production the
// endpoints can be a sandbox Google (shared/sandbox's) instead.
package google

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/monitor"
)

// The read-only API scopes the CRM asks for besides sign-in.
const (
	ScopeGmailReadonly    = "https://www.googleapis.com/auth/gmail.readonly"
	ScopeCalendarReadonly = "https://www.googleapis.com/auth/calendar.readonly"
	ScopeContactsReadonly = "https://www.googleapis.com/auth/contacts.readonly"
)

// Scopes are every scope sign-in asks for: OpenID Connect's openid, email
// and profile, then Gmail, Calendar and Contacts read-only.
var Scopes = []string{"openid", "email", "profile", ScopeGmailReadonly, ScopeCalendarReadonly, ScopeContactsReadonly}

// Endpoints are the URLs of Google's OAuth and OpenID services, and the
// base URLs of the Gmail and People APIs.
type Endpoints struct {
	Auth, Token, Revoke, UserInfo string
	// Gmail is the Gmail API's root URL, ending in a slash; its methods
	// are under gmail/v1/.
	Gmail string
	// People is the People API's root URL, ending in a slash; its
	// methods are under v1/.
	People string
	// Calendar is the Calendar API's root URL, ending in a slash; its
	// methods are under calendar/v3/.
	Calendar string
	// Certs is the JSON Web Key Set of the keys Google signs its ID
	// tokens with (Pub/Sub's push tokens among them).
	Certs string
}

// The labels under which a call to Google is timed, by the endpoint it
// calls.
const (
	LabelToken    = "google.oauth"          // the token endpoint: code exchange, refresh
	LabelRevoke   = "google.oauth.revoke"   // token revocation
	LabelUserInfo = "google.oauth.userinfo" // OpenID Connect's userinfo
	LabelGmail    = "google.gmail"
	LabelPeople   = "google.people"
	LabelCalendar = "google.calendar"
	LabelCerts    = "google.certs"
	LabelOther    = "google.other" // none of the above
)

// label is the label of a call to req's URL. The sandbox serves Gmail,
// People and userinfo under one root, so the API's path decides.
func (e Endpoints) label(req *http.Request) string {
	u := req.URL.Scheme + "://" + req.URL.Host + req.URL.Path
	switch {
	case u == e.Token:
		return LabelToken
	case u == e.Revoke:
		return LabelRevoke
	case u == e.UserInfo:
		return LabelUserInfo
	case u == e.Certs:
		return LabelCerts
	case e.Gmail != "" && (strings.HasPrefix(u, e.Gmail+"gmail/") || strings.HasPrefix(u, e.Gmail+"batch/gmail/")):
		return LabelGmail
	case e.People != "" && strings.HasPrefix(u, e.People+"v1/"):
		return LabelPeople
	case e.Calendar != "" && strings.HasPrefix(u, e.Calendar+"calendar/"):
		return LabelCalendar
	}
	return LabelOther
}

// Production are Google's own endpoints.
var Production = Endpoints{
	Auth:     "https://accounts.google.com/o/oauth2/v2/auth",
	Token:    "https://oauth2.googleapis.com/token",
	Revoke:   "https://oauth2.googleapis.com/revoke",
	UserInfo: "https://openidconnect.googleapis.com/v1/userinfo",
	Gmail:    "https://gmail.googleapis.com/",
	People:   "https://people.googleapis.com/",
	Calendar: "https://www.googleapis.com/",
	Certs:    "https://www.googleapis.com/oauth2/v3/certs",
}

// SandboxEndpoints are the endpoints of a sandbox Google served at base:
// Google's paths under base.
func SandboxEndpoints(base string) Endpoints {
	base = strings.TrimSuffix(base, "/")
	return Endpoints{
		Auth:     base + "/o/oauth2/v2/auth",
		Token:    base + "/token",
		Revoke:   base + "/revoke",
		UserInfo: base + "/v1/userinfo",
		Gmail:    base + "/",
		People:   base + "/",
		Calendar: base + "/",
		Certs:    base + "/oauth2/v3/certs",
	}
}

// SandboxPath is where the local server serves its sandbox Google.
const SandboxPath = "/sandbox/google"

// The sandbox's client credentials, used when no Google client is
// configured outside production.
const (
	SandboxClientID     = "sandbox-client.apps.googleusercontent.com"
	SandboxClientSecret = config.SandboxGoogleClientSecret
)

// Options build a Client.
type Options struct {
	ClientID, ClientSecret string
	// RedirectURL is the sign-in callback's absolute URL.
	RedirectURL string
	Endpoints   Endpoints
	// HTTP makes the calls to Google; nil is a client with a 10-second
	// timeout.
	HTTP *http.Client
	// Sandbox says the endpoints are a sandbox's.
	Sandbox bool
	// APITimeout bounds one call of APIClient's; zero is
	// DefaultAPITimeout.
	APITimeout time.Duration
}

// Client calls Google. It is safe for concurrent use.
type Client struct {
	oauth      oauth2.Config
	ep         Endpoints
	http       *http.Client
	sandbox    bool
	apiTimeout time.Duration
}

// New returns a client. It does no I/O. Its calls, those of its API
// clients included, are timed by the monitor in their context (see
// monitor.Transport) under the Label constants.
func New(o Options) *Client {
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	timed := *o.HTTP // the caller's client stays as it was
	timed.Transport = monitor.Transport(o.HTTP.Transport, o.Endpoints.label)
	o.HTTP = &timed
	if o.APITimeout <= 0 {
		o.APITimeout = DefaultAPITimeout
	}
	return &Client{
		oauth: oauth2.Config{
			ClientID:     o.ClientID,
			ClientSecret: o.ClientSecret,
			RedirectURL:  o.RedirectURL,
			Scopes:       append([]string(nil), Scopes...),
			// Google takes client credentials in the form, as
			// golang.org/x/oauth2/google's endpoint says.
			Endpoint: oauth2.Endpoint{AuthURL: o.Endpoints.Auth, TokenURL: o.Endpoints.Token, AuthStyle: oauth2.AuthStyleInParams},
		},
		ep:         o.Endpoints,
		http:       o.HTTP,
		sandbox:    o.Sandbox,
		apiTimeout: o.APITimeout,
	}
}

// FromConfig returns the client cfg describes: Google itself when a client
// id is configured and no sandbox URL is, else the sandbox at
// GOOGLE_SANDBOX_URL or, unset, at AUTH_URL + SandboxPath (the local
// server's), with the sandbox's credentials unless others are configured.
// Production never gets a sandbox. It does no I/O.
func FromConfig(cfg *config.Config) (*Client, error) {
	if cfg.AuthURL == nil {
		return nil, errors.New("google: AUTH_URL is not set")
	}
	o := Options{
		ClientID:     cfg.GoogleClientID,
		ClientSecret: cfg.GoogleClientSecret.Reveal(),
		RedirectURL:  CallbackURL(cfg.AuthURL),
		Endpoints:    Production,
	}
	if cfg.GoogleClientID != "" && cfg.GoogleSandboxURL == nil {
		return New(o), nil
	}
	if cfg.Env == config.Production {
		return nil, errors.New("google: production signs in with Google: set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET, not GOOGLE_SANDBOX_URL")
	}
	base := cfg.AuthURL.JoinPath(SandboxPath).String()
	if cfg.GoogleSandboxURL != nil {
		base = cfg.GoogleSandboxURL.String()
	}
	o.Endpoints, o.Sandbox = SandboxEndpoints(base), true
	if o.ClientID == "" {
		o.ClientID, o.ClientSecret = SandboxClientID, SandboxClientSecret
	}
	return New(o), nil
}

// CallbackURL is the sign-in callback's absolute URL on the API at authURL.
func CallbackURL(authURL *url.URL) string {
	return authURL.JoinPath(catalog.MustLookup(catalog.AuthCallback).Path).String()
}

// Sandbox reports whether the client talks to a sandbox Google.
func (c *Client) Sandbox() bool { return c.sandbox }

// Endpoints are the endpoints the client calls.
func (c *Client) Endpoints() Endpoints { return c.ep }

// ClientID is the OAuth client's id.
func (c *Client) ClientID() string { return c.oauth.ClientID }

// AuthCodeURL is where sign-in sends the browser: Google's consent screen
// for every scope, with offline access (a refresh token), the state, and
// the S256 challenge of verifier. With consent, Google is told to ask
// again, which is how a new refresh token is obtained.
func (c *Client) AuthCodeURL(state, verifier string, consent bool) string {
	opts := []oauth2.AuthCodeOption{
		oauth2.AccessTypeOffline,
		oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("include_granted_scopes", "true"),
	}
	if consent {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "consent"))
	}
	return c.oauth.AuthCodeURL(state, opts...)
}

func (c *Client) ctx(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.http)
}

// Exchange trades an authorization code and its PKCE verifier for tokens.
// Errors: ErrInvalidGrant (wrapped) for a bad, used or expired code or a
// verifier that does not match; Unavailable when Google cannot be reached.
func (c *Client) Exchange(ctx context.Context, code, verifier string) (*oauth2.Token, error) {
	tok, err := c.oauth.Exchange(c.ctx(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("exchange code: %w", classify(err))
	}
	return tok, nil
}

// Refresh obtains a new access token with a refresh token. The result
// carries a refresh token: a new one when Google rotated it, else the one
// given. Errors: ErrInvalidGrant (wrapped) when the grant is revoked or
// expired; Unavailable when Google cannot be reached.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*oauth2.Token, error) {
	tok, err := c.oauth.TokenSource(c.ctx(ctx), &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		return nil, fmt.Errorf("refresh token: %w", classify(err))
	}
	if tok.RefreshToken == "" {
		tok.RefreshToken = refreshToken
	}
	return tok, nil
}

// ErrInvalidGrant is Google's answer to a code or refresh token that is
// not (or no longer) good: used, expired, revoked, or not matching its
// PKCE verifier. Only the person, by signing in again, can fix it.
var ErrInvalidGrant = errors.New("google: invalid grant")

// classify turns oauth2's errors into ErrInvalidGrant, Unavailable
// (network, timeouts, 5xx and 429) or an internal error (anything else,
// such as a misconfigured client).
func classify(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		switch {
		case re.ErrorCode == "invalid_grant":
			return fmt.Errorf("%w: %s", ErrInvalidGrant, re.ErrorDescription)
		case re.Response != nil && (re.Response.StatusCode >= 500 || re.Response.StatusCode == http.StatusTooManyRequests):
			return errs.Unavailable("Google", fmt.Errorf("token endpoint: %s", re.Response.Status))
		}
		// The error code and description only: the body is not logged.
		return fmt.Errorf("token endpoint: %s %s", re.ErrorCode, re.ErrorDescription)
	}
	if unreachable(err) {
		return errs.Unavailable("Google", err)
	}
	return err
}

func unreachable(err error) bool {
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded)
}

// Profile is the signed-in person as OpenID Connect's userinfo describes
// them.
type Profile struct {
	// Subject is Google's stable id of the person; the email can change.
	Subject       string `json:"sub"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name"`
	Picture       string `json:"picture"`
}

// Profile reads the person an access token belongs to. Errors:
// Unavailable when Google cannot be reached; an internal error for a
// refused token or a profile without a subject or email.
func (c *Client) Profile(ctx context.Context, accessToken string) (Profile, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.ep.UserInfo, nil)
	if err != nil {
		return Profile{}, err
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return Profile{}, errs.Unavailable("Google", fmt.Errorf("userinfo: %w", err))
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	switch {
	case err != nil:
		return Profile{}, errs.Unavailable("Google", fmt.Errorf("userinfo: %w", err))
	case res.StatusCode >= 500 || res.StatusCode == http.StatusTooManyRequests:
		return Profile{}, errs.Unavailable("Google", fmt.Errorf("userinfo: %s", res.Status))
	case res.StatusCode != http.StatusOK:
		return Profile{}, fmt.Errorf("userinfo: %s", res.Status)
	}
	var p Profile
	if err := json.Unmarshal(body, &p); err != nil {
		return Profile{}, fmt.Errorf("userinfo: decode: %w", err)
	}
	if p.Subject == "" || p.Email == "" {
		return Profile{}, errors.New("userinfo: no subject or email (are the openid and email scopes granted?)")
	}
	return p, nil
}

// Revoke revokes a token at Google (RFC 7009, as Google serves it: a form
// POST of the token): a refresh token, or an access token, ends the whole
// grant, every token made with it included. A token Google no longer
// knows (400 invalid_token: revoked or expired) counts as revoked.
// Errors: Unavailable (network, timeouts, 5xx and 429); an internal error
// for any other refusal.
func (c *Client) Revoke(ctx context.Context, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.ep.Revoke, strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := c.http.Do(req)
	if err != nil {
		return errs.Unavailable("Google", fmt.Errorf("revoke: %w", err))
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	switch {
	case res.StatusCode == http.StatusOK:
		return nil
	case res.StatusCode >= 500 || res.StatusCode == http.StatusTooManyRequests:
		return errs.Unavailable("Google", fmt.Errorf("revoke: %s", res.Status))
	}
	var e struct {
		Code        string `json:"error"`
		Description string `json:"error_description"`
	}
	json.Unmarshal(body, &e)
	if res.StatusCode == http.StatusBadRequest && e.Code == "invalid_token" {
		return nil
	}
	// The error code and description only: the body could echo the token.
	return fmt.Errorf("revoke: %s %s %s", res.Status, e.Code, e.Description)
}
