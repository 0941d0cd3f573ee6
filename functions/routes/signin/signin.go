// Package signin serves signing in with Google and signing out: the
// redirect to Google's consent screen, the callback that starts a session,
// and logout. These are browser routes: they answer with redirects and
// cookies, and send the browser back to the web app (to the returnTo it
// asked for, when that is safe), with an error code when signing in
// failed.
package signin

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/user"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/logging"
)

// StateCookieName is the sign-in state cookie's name without a prefix.
const StateCookieName = "crm_oauth_state"

// Cookies are the cookies of signing in.
type Cookies struct {
	// Session carries the session token.
	Session auth.Cookie
	// State binds a sign-in in flight to the browser that started it.
	State auth.Cookie
}

// CookiesFor returns the cookies of the API at authURL.
func CookiesFor(authURL *url.URL, production bool) Cookies {
	return Cookies{
		Session: auth.SessionCookie(authURL, production),
		State:   auth.NewCookie(StateCookieName, authURL, production),
	}
}

// browser reads what a browser route needs beyond its declared inputs:
// every cookie and the client's address.
type browser struct {
	cookies []*http.Cookie
	ip      string
}

func (b *browser) Resolve(ctx huma.Context) []error {
	b.cookies = huma.ReadCookies(ctx)
	b.ip = ctx.RemoteAddr()
	if host, _, err := net.SplitHostPort(b.ip); err == nil {
		b.ip = host
	}
	return nil
}

func (b *browser) cookie(name string) string {
	for _, c := range b.cookies {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// Redirect is a browser route's answer: a redirect with cookies.
type Redirect struct {
	Location     string        `header:"Location" doc:"Where the browser goes next"`
	SetCookie    []http.Cookie `header:"Set-Cookie" doc:"The session cookie, and the sign-in state cookie"`
	CacheControl string        `header:"Cache-Control"`
}

func redirect(to string, cookies ...*http.Cookie) *Redirect {
	r := &Redirect{Location: to, CacheControl: "no-store"}
	for _, c := range cookies {
		r.SetCookie = append(r.SetCookie, *c)
	}
	return r
}

// LoginInput asks for consent again, or not, and says where to go after.
type LoginInput struct {
	browser
	Prompt   string `query:"prompt" enum:"consent" doc:"consent makes Google ask for consent again, which gives a new refresh token"`
	ReturnTo string `query:"returnTo" doc:"Where the browser goes after signing in (error=<code> added when it failed): a path on the web app (/contacts/123) or an absolute URL on an allowed origin; anything else goes to the web app's URL"`
}

// Authorizer builds Google's authorization URL (google.Client does).
type Authorizer interface {
	AuthCodeURL(state, verifier string, consent bool) string
}

// StateStarter starts sign-ins (auth.States does).
type StateStarter interface {
	Begin(ctx context.Context, consent bool, returnTo string) (state, verifier string, err error)
}

// GrantChecker tells whether a user's Google account holds a good refresh
// token (user.SignIn does).
type GrantChecker interface {
	UserHasGrant(ctx context.Context, userID uuid.UUID) (bool, error)
}

// LoginDeps are what Login needs.
type LoginDeps struct {
	Google   Authorizer
	States   StateStarter
	Grants   GrantChecker
	Sessions api.Authenticator
	Cookies  Cookies
	// Returns decides where the browser goes afterwards.
	Returns Returns
	Log     *slog.Logger
}

// Login answers GET /auth/google/login: it remembers a new sign-in state
// (server-side, with where to return, and in a cookie) and sends the
// browser to Google with it, a PKCE S256 challenge and offline access.
// Google is asked for consent when the request says so or when the
// signed-in user's account has no good refresh token. When the state
// cannot be stored the browser goes back at once, with the error code.
func Login(d LoginDeps) api.Route {
	return api.Handle(catalog.AuthLogin, func(ctx context.Context, in *LoginInput) (*Redirect, error) {
		back := d.Returns.Resolve(in.ReturnTo)
		fail := func(err error) (*Redirect, error) {
			status := statusOf(err)
			logOf(d.Log).Log(ctx, levelOf(status), "sign-in refused", "reason", "start", "status", status, "err", err)
			return redirect(withError(back, errorCode(status))), nil
		}
		consent := in.Prompt == "consent"
		if !consent {
			if token := in.cookie(d.Cookies.Session.Name); token != "" {
				if p, err := d.Sessions.Resolve(ctx, token); err == nil {
					has, err := d.Grants.UserHasGrant(ctx, p.UserID)
					if err != nil {
						return fail(err)
					}
					consent = !has
				}
			}
		}
		state, verifier, err := d.States.Begin(ctx, consent, back)
		if err != nil {
			return fail(err)
		}
		return redirect(d.Google.AuthCodeURL(state, verifier, consent),
			d.Cookies.State.Set(state, time.Now().Add(auth.StateTTL))), nil
	}, api.Status(http.StatusFound), api.Document(redirectOnly))
}

// redirectOnly documents a redirect's response as having no body. An
// operation that answers no 2xx also gets the default response: an
// answer that is not a redirect is the error envelope, whatever its
// status (a client's type generator and linters look for one besides
// the redirect).
func redirectOnly(op *huma.Operation) {
	success := false
	var envelope *huma.Response
	for code, r := range op.Responses {
		if code[0] == '3' && r != nil {
			r.Content = nil
			r.Description = "Redirect; the Location header says where"
		}
		if code[0] == '2' {
			success = true
		}
		if code == "500" {
			envelope = r
		}
	}
	if !success && envelope != nil {
		op.Responses["default"] = &huma.Response{Description: "Not a redirect: an error, in the error envelope",
			Content: envelope.Content}
	}
}

// CallbackInput is what Google sends the browser back with.
type CallbackInput struct {
	browser
	// No length limits here: an oversized value is a failed sign-in,
	// which goes back to the web app like any other.
	Code             string `query:"code" doc:"The authorization code"`
	State            string `query:"state" doc:"The state given at login"`
	Error            string `query:"error" doc:"Google's error, such as access_denied"`
	ErrorDescription string `query:"error_description"`
	Scope            string `query:"scope" doc:"The scopes granted"`
	UserAgent        string `header:"User-Agent"`
}

// Exchanger turns a code into tokens and a profile (google.Client does).
type Exchanger interface {
	Exchange(ctx context.Context, code, verifier string) (*oauth2.Token, error)
	Profile(ctx context.Context, accessToken string) (google.Profile, error)
}

// StateFinisher uses up sign-in states (auth.States does).
type StateFinisher interface {
	Finish(ctx context.Context, state string) (auth.Pending, error)
}

// Completer turns a Google sign-in into a user and a session (user.SignIn
// does).
type Completer interface {
	HasGrant(ctx context.Context, subject string) (bool, error)
	Complete(ctx context.Context, id user.Identity, tok *oauth2.Token, m auth.Meta) (user.Result, error)
}

// CallbackDeps are what Callback needs.
type CallbackDeps struct {
	Google  Exchanger
	States  StateFinisher
	SignIn  Completer
	Cookies Cookies
	// Returns is where the browser goes when the sign-in did not say,
	// or when it failed before its state was known: AUTH_REDIRECT_URL.
	Returns Returns
	// LoginURL is the login route's absolute URL, to start again.
	LoginURL string
	Log      *slog.Logger
}

// Callback answers GET /auth/google/callback. It checks that the state
// Google brings back is the one in this browser's cookie and still
// unused, exchanges the code with the state's PKCE verifier, reads the
// profile, stores the user, account and encrypted tokens, starts a session
// and sends the browser where the sign-in asked to return (the web app by
// default) with the session cookie. When Google gave no refresh token and
// the account has none that works, it starts over asking for consent.
// Every failure writes nothing and sends the browser back to the web app
// with error=<code> (errorCode) in the query.
func Callback(d CallbackDeps) api.Route {
	return api.Handle(catalog.AuthCallback, func(ctx context.Context, in *CallbackInput) (*Redirect, error) {
		clear := d.Cookies.State.Clear()
		back := d.Returns.App()
		fail := func(status int, reason string, cause error) (*Redirect, error) {
			logOf(d.Log).Log(ctx, levelOf(status), "sign-in refused", "reason", reason, "status", status, "err", cause)
			return redirect(withError(back, errorCode(status)), clear), nil
		}

		cookieState := in.cookie(d.Cookies.State.Name)
		matches := cookieState != "" && subtle.ConstantTimeCompare([]byte(cookieState), []byte(in.State)) == 1
		if in.Error != "" {
			if matches {
				// Used up: it cannot serve again.
				if p, err := d.States.Finish(ctx, in.State); err == nil && p.ReturnTo != "" {
					back = p.ReturnTo
				}
			}
			if in.Error == "access_denied" {
				return fail(http.StatusForbidden, "access_denied", nil)
			}
			return fail(http.StatusBadRequest, "google_error", errors.New(truncate(in.Error, 100)))
		}
		switch {
		case cookieState == "":
			return fail(http.StatusBadRequest, "no_state_cookie", nil)
		case !matches:
			return fail(http.StatusBadRequest, "state_mismatch", nil)
		}
		pending, err := d.States.Finish(ctx, in.State)
		if errs.Is(err, errs.KindInvalid) {
			return fail(http.StatusBadRequest, "state_unknown", nil)
		}
		if err != nil {
			return fail(statusOf(err), "state_store", err)
		}
		if pending.ReturnTo != "" {
			back = pending.ReturnTo
		}
		if in.Code == "" || len(in.Code) > maxCode {
			return fail(http.StatusBadRequest, "no_code", nil)
		}
		tok, err := d.Google.Exchange(ctx, in.Code, pending.Verifier)
		if errors.Is(err, google.ErrInvalidGrant) {
			return fail(http.StatusBadRequest, "invalid_grant", err)
		}
		if err != nil {
			return fail(statusOf(err), "exchange", err)
		}
		profile, err := d.Google.Profile(ctx, tok.AccessToken)
		if err != nil {
			return fail(statusOf(err), "profile", err)
		}
		if tok.RefreshToken == "" && !pending.Consent {
			has, err := d.SignIn.HasGrant(ctx, profile.Subject)
			if err != nil {
				return fail(statusOf(err), "grant", err)
			}
			if !has {
				// Google sends a refresh token only at consent: ask for
				// it, keeping where the sign-in returns to.
				again := url.Values{"prompt": {"consent"}, "returnTo": {back}}
				return redirect(d.LoginURL+"?"+again.Encode(), clear), nil
			}
		}
		res, err := d.SignIn.Complete(ctx, user.Identity{
			Subject: profile.Subject, Email: profile.Email, EmailVerified: profile.EmailVerified,
			Name: profile.Name, Picture: profile.Picture,
		}, tok, auth.Meta{UserAgent: in.UserAgent, IP: in.ip})
		if err != nil {
			return fail(statusOf(err), "sign_in", err)
		}
		logOf(d.Log).InfoContext(ctx, "signed in", "user_id", res.User.ID, "new_user", res.Created)
		return redirect(back, d.Cookies.Session.Set(res.Token, res.Session.ExpiresAt), clear), nil
	}, api.Status(http.StatusFound), api.Document(redirectOnly))
}

// maxCode is the longest authorization code taken to Google.
const maxCode = 2048

// The error codes a failed sign-in returns to the web app with, by the
// status the failure would have as an API error. They follow OAuth 2.0's
// (RFC 6749, section 4.1.2.1) where one fits.
var errorCodes = map[int]string{
	// The person declined at Google, or Google's account is not one
	// this app accepts (an unverified email address).
	http.StatusForbidden: "access_denied",
	// The sign-in link expired, was already used, or was started in
	// another browser or tab: start again.
	http.StatusBadRequest: "invalid_request",
	// The email address belongs to a user who signs in with another
	// Google account.
	http.StatusConflict: "account_conflict",
	// Google or the API's own storage did not answer: try again soon.
	http.StatusServiceUnavailable: "temporarily_unavailable",
	// Anything else.
	http.StatusInternalServerError: "server_error",
}

// errorCode is the code of a failure with status.
func errorCode(status int) string {
	if c, ok := errorCodes[status]; ok {
		return c
	}
	return errorCodes[http.StatusInternalServerError]
}

func levelOf(status int) slog.Level {
	if status >= 500 && status != http.StatusServiceUnavailable {
		return slog.LevelError
	}
	return slog.LevelWarn
}

func logOf(l *slog.Logger) *slog.Logger {
	if l == nil {
		return logging.Discard()
	}
	return l
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// statusOf is the status of a sign-in failure's page.
func statusOf(err error) int {
	if db.IsUnavailable(err) {
		return http.StatusServiceUnavailable
	}
	switch errs.KindOf(err) {
	case errs.KindInvalid:
		return http.StatusBadRequest
	case errs.KindForbidden:
		return http.StatusForbidden
	case errs.KindConflict:
		return http.StatusConflict
	case errs.KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Revoker ends sessions (auth.Sessions does).
type Revoker interface {
	Revoke(ctx context.Context, userID, id uuid.UUID) error
}

// LogoutInput says where the browser goes after signing out, if anywhere.
type LogoutInput struct {
	ReturnTo string `query:"returnTo" doc:"Where the browser goes after signing out (303): a path on the web app or an absolute URL on an allowed origin, anything else the web app's URL. Without it the answer is 204"`
}

// LogoutOutput clears the session cookie, and may send the browser on.
type LogoutOutput struct {
	Status       int         `json:"-"`
	Location     string      `header:"Location" doc:"Where the browser goes next, when returnTo was given"`
	SetCookie    http.Cookie `header:"Set-Cookie" doc:"Deletes the session cookie"`
	CacheControl string      `header:"Cache-Control"`
}

// Logout answers POST /auth/logout: the calling session ends (its token
// stops working at once) and the cookie is deleted. With returnTo (a form
// posted from the web app) the browser is sent there, by returns' rules,
// with 303; without it the answer is 204.
func Logout(sessions Revoker, cookies Cookies, returns Returns) api.Route {
	return api.Handle(catalog.AuthLogout, func(ctx context.Context, in *LogoutInput) (*LogoutOutput, error) {
		p, ok := auth.From(ctx)
		if !ok {
			return nil, errs.Unauthenticated("Authentication required")
		}
		if err := sessions.Revoke(ctx, p.UserID, p.SessionID); err != nil && !errs.Is(err, errs.KindNotFound) {
			return nil, err
		}
		out := &LogoutOutput{Status: http.StatusNoContent, SetCookie: *cookies.Session.Clear(), CacheControl: "no-store"}
		if in.ReturnTo != "" {
			out.Status, out.Location = http.StatusSeeOther, returns.Resolve(in.ReturnTo)
		}
		return out, nil
	}, api.Status(http.StatusNoContent), api.Document(func(op *huma.Operation) {
		op.Responses["303"] = &huma.Response{Description: "Signed out; the Location header says where (returnTo)",
			Headers: op.Responses["204"].Headers}
		redirectOnly(op)
	}))
}
