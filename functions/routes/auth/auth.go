// Package auth serves signing in with Google and signing out: the
// redirect to Google's consent screen, the callback that starts a session,
// and logout. These are browser routes: they answer with redirects, cookies
// and, when signing in fails, a short HTML page saying why.
package auth

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
	authn "github.com/personalcrm/core/shared/auth"
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
	Session authn.Cookie
	// State binds a sign-in in flight to the browser that started it.
	State authn.Cookie
}

// CookiesFor returns the cookies of the API at authURL.
func CookiesFor(authURL *url.URL, production bool) Cookies {
	return Cookies{
		Session: authn.SessionCookie(authURL, production),
		State:   authn.NewCookie(StateCookieName, authURL, production),
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

// Redirect is a browser route's answer: a redirect with cookies, or a page.
type Redirect struct {
	Status       int           `json:"-"`
	Location     string        `header:"Location" doc:"Where the browser goes next"`
	SetCookie    []http.Cookie `header:"Set-Cookie" doc:"The session cookie, and the sign-in state cookie"`
	CacheControl string        `header:"Cache-Control"`
	ContentType  string        `header:"Content-Type"`
	// CSP keeps the error page from running or loading anything.
	CSP string `header:"Content-Security-Policy"`
	// RetryAfter is set on the page of a sign-in that found the database
	// unavailable, in seconds.
	RetryAfter string `header:"Retry-After" doc:"Seconds to wait before trying again (database unavailable)"`
	Body       []byte
}

func redirect(to string, cookies ...*http.Cookie) *Redirect {
	r := &Redirect{Status: http.StatusFound, Location: to, CacheControl: "no-store"}
	for _, c := range cookies {
		r.SetCookie = append(r.SetCookie, *c)
	}
	return r
}

// LoginInput asks for consent again, or not.
type LoginInput struct {
	browser
	Prompt string `query:"prompt" enum:"consent" doc:"consent makes Google ask for consent again, which gives a new refresh token"`
}

// Authorizer builds Google's authorization URL (google.Client does).
type Authorizer interface {
	AuthCodeURL(state, verifier string, consent bool) string
}

// StateStarter starts sign-ins (auth.States does).
type StateStarter interface {
	Begin(ctx context.Context, consent bool) (state, verifier string, err error)
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
}

// Login answers GET /auth/google/login: it remembers a new sign-in state
// (server-side and in a cookie) and sends the browser to Google with it,
// a PKCE S256 challenge and offline access. Google is asked for consent
// when the request says so or when the signed-in user's account has no
// good refresh token.
func Login(d LoginDeps) api.Route {
	return api.Handle(catalog.AuthLogin, func(ctx context.Context, in *LoginInput) (*Redirect, error) {
		consent := in.Prompt == "consent"
		if !consent {
			if token := in.cookie(d.Cookies.Session.Name); token != "" {
				if p, err := d.Sessions.Resolve(ctx, token); err == nil {
					has, err := d.Grants.UserHasGrant(ctx, p.UserID)
					if err != nil {
						return nil, err
					}
					consent = !has
				}
			}
		}
		state, verifier, err := d.States.Begin(ctx, consent)
		if err != nil {
			return nil, err
		}
		return redirect(d.Google.AuthCodeURL(state, verifier, consent),
			d.Cookies.State.Set(state, time.Now().Add(authn.StateTTL))), nil
	}, api.Status(http.StatusFound), api.Document(redirectOnly))
}

// redirectOnly documents a redirect's response as having no body.
func redirectOnly(op *huma.Operation) {
	if r := op.Responses["302"]; r != nil {
		r.Content = nil
		r.Description = "Redirect; the Location header says where"
		delete(r.Headers, "Content-Type")
		delete(r.Headers, "Content-Security-Policy")
	}
}

// pages documents the callback's failures as HTML pages.
func pages(op *huma.Operation) {
	redirectOnly(op)
	for code, r := range op.Responses {
		if code != "302" && r != nil {
			r.Content = map[string]*huma.MediaType{"text/html": {Schema: &huma.Schema{Type: "string"}}}
			r.Description += ": a page saying what went wrong"
		}
	}
}

// CallbackInput is what Google sends the browser back with.
type CallbackInput struct {
	browser
	Code             string `query:"code" maxLength:"2048" doc:"The authorization code"`
	State            string `query:"state" maxLength:"256" doc:"The state given at login"`
	Error            string `query:"error" maxLength:"100" doc:"Google's error, such as access_denied"`
	ErrorDescription string `query:"error_description" maxLength:"1000"`
	Scope            string `query:"scope" maxLength:"2048" doc:"The scopes granted"`
	UserAgent        string `header:"User-Agent"`
}

// Exchanger turns a code into tokens and a profile (google.Client does).
type Exchanger interface {
	Exchange(ctx context.Context, code, verifier string) (*oauth2.Token, error)
	Profile(ctx context.Context, accessToken string) (google.Profile, error)
}

// StateFinisher uses up sign-in states (auth.States does).
type StateFinisher interface {
	Finish(ctx context.Context, state string) (verifier string, consent bool, err error)
}

// Completer turns a Google sign-in into a user and a session (user.SignIn
// does).
type Completer interface {
	HasGrant(ctx context.Context, subject string) (bool, error)
	Complete(ctx context.Context, id user.Identity, tok *oauth2.Token, m authn.Meta) (user.Result, error)
}

// CallbackDeps are what Callback needs.
type CallbackDeps struct {
	Google  Exchanger
	States  StateFinisher
	SignIn  Completer
	Cookies Cookies
	// RedirectURL is where a signed-in browser goes (AUTH_REDIRECT_URL).
	RedirectURL string
	// LoginURL is the login route's absolute URL, to start again.
	LoginURL string
	Log      *slog.Logger
}

// Callback answers GET /auth/google/callback. It checks that the state
// Google brings back is the one in this browser's cookie and still
// unused, exchanges the code with the state's PKCE verifier, reads the
// profile, stores the user, account and encrypted tokens, starts a session
// and sends the browser to RedirectURL with the session cookie. When
// Google gave no refresh token and the account has none that works, it
// starts over asking for consent. Every failure ends on a page that says
// what happened, with a 4xx status (503 when Google is unreachable), and
// writes nothing.
func Callback(d CallbackDeps) api.Route {
	return api.Handle(catalog.AuthCallback, func(ctx context.Context, in *CallbackInput) (*Redirect, error) {
		log := d.Log
		if log == nil {
			log = logging.Discard()
		}
		clear := d.Cookies.State.Clear()
		fail := func(status int, reason string, cause error) (*Redirect, error) {
			level := slog.LevelWarn
			if status >= 500 && status != http.StatusServiceUnavailable {
				level = slog.LevelError
			}
			if status == http.StatusServiceUnavailable && databaseStep[reason] && db.IsUnavailable(cause) {
				log.WarnContext(ctx, "sign-in refused: database unavailable", "reason", reason, "status", status, "err", cause)
				return busyPage(d.LoginURL, clear), nil
			}
			log.Log(ctx, level, "sign-in refused", "reason", reason, "status", status, "err", cause)
			return page(status, d.LoginURL, clear), nil
		}

		cookieState := in.cookie(d.Cookies.State.Name)
		matches := cookieState != "" && subtle.ConstantTimeCompare([]byte(cookieState), []byte(in.State)) == 1
		if in.Error != "" {
			if matches {
				d.States.Finish(ctx, in.State) // used up: it cannot serve again
			}
			if in.Error == "access_denied" {
				return fail(http.StatusForbidden, "access_denied", nil)
			}
			return fail(http.StatusBadRequest, "google_error", errors.New(in.Error))
		}
		switch {
		case cookieState == "":
			return fail(http.StatusBadRequest, "no_state_cookie", nil)
		case !matches:
			return fail(http.StatusBadRequest, "state_mismatch", nil)
		}
		verifier, asked, err := d.States.Finish(ctx, in.State)
		if errs.Is(err, errs.KindInvalid) {
			return fail(http.StatusBadRequest, "state_unknown", nil)
		}
		if err != nil {
			return fail(statusOf(err), "state_store", err)
		}
		if in.Code == "" {
			return fail(http.StatusBadRequest, "no_code", nil)
		}
		tok, err := d.Google.Exchange(ctx, in.Code, verifier)
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
		if tok.RefreshToken == "" && !asked {
			has, err := d.SignIn.HasGrant(ctx, profile.Subject)
			if err != nil {
				return fail(statusOf(err), "grant", err)
			}
			if !has {
				// Google sends a refresh token only at consent: ask for it.
				return redirect(d.LoginURL+"?prompt=consent", clear), nil
			}
		}
		res, err := d.SignIn.Complete(ctx, user.Identity{
			Subject: profile.Subject, Email: profile.Email, EmailVerified: profile.EmailVerified,
			Name: profile.Name, Picture: profile.Picture,
		}, tok, authn.Meta{UserAgent: in.UserAgent, IP: in.ip})
		if err != nil {
			return fail(statusOf(err), "sign_in", err)
		}
		log.InfoContext(ctx, "signed in", "user_id", res.User.ID, "new_user", res.Created)
		return redirect(d.RedirectURL, d.Cookies.Session.Set(res.Token, res.Session.ExpiresAt), clear), nil
	}, api.Status(http.StatusFound), api.Errors(http.StatusForbidden, http.StatusConflict, http.StatusServiceUnavailable), api.Document(pages))
}

// databaseStep are the callback's steps that only use the database.
var databaseStep = map[string]bool{"state_store": true, "grant": true, "sign_in": true}

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

// LogoutOutput clears the session cookie.
type LogoutOutput struct {
	SetCookie    http.Cookie `header:"Set-Cookie" doc:"Deletes the session cookie"`
	CacheControl string      `header:"Cache-Control"`
}

// Logout answers POST /auth/logout: the calling session ends (its token
// stops working at once) and the cookie is deleted.
func Logout(sessions Revoker, cookies Cookies) api.Route {
	return api.Handle(catalog.AuthLogout, func(ctx context.Context, _ *struct{}) (*LogoutOutput, error) {
		p, ok := authn.From(ctx)
		if !ok {
			return nil, errs.Unauthenticated("Authentication required")
		}
		if err := sessions.Revoke(ctx, p.UserID, p.SessionID); err != nil && !errs.Is(err, errs.KindNotFound) {
			return nil, err
		}
		return &LogoutOutput{SetCookie: *cookies.Session.Clear(), CacheControl: "no-store"}, nil
	}, api.Status(http.StatusNoContent))
}
