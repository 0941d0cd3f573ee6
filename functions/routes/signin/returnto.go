package signin

import (
	"net/url"
	"strings"

	"github.com/personalcrm/core/shared/config"
)

// MaxReturnTo is the longest returnTo honoured; a longer one falls back
// to the web app.
const MaxReturnTo = 2048

// Returns decides where a browser goes after signing in or out: the
// returnTo it asked for when that is safe, else the web app
// (AUTH_REDIRECT_URL). It never sends a browser to another site.
type Returns struct {
	app     *url.URL
	origins map[string]bool
}

// NewReturns returns the policy of the web app at app, which also
// accepts absolute URLs on the allowed origins.
func NewReturns(app *url.URL, allowed []string) Returns {
	r := Returns{app: app, origins: map[string]bool{config.Origin(app): true}}
	for _, o := range allowed {
		r.origins[o] = true
	}
	return r
}

// ReturnsFor is the policy of the configuration: AUTH_REDIRECT_URL and
// config.AllowedOrigins. Without AUTH_REDIRECT_URL it is the API's root.
func ReturnsFor(cfg *config.Config) Returns {
	app := cfg.AuthRedirectURL
	if app == nil && cfg.AuthURL != nil {
		app = cfg.AuthURL.JoinPath("/")
	}
	if app == nil {
		app = &url.URL{Path: "/"}
	}
	return NewReturns(app, cfg.AllowedOrigins())
}

// App is the web app's URL, where a browser goes by default.
func (r Returns) App() string { return r.app.String() }

// Resolve returns the absolute URL that returnTo names when it is a path
// (on the web app's origin) or an http(s) URL on an allowed origin; for
// anything else (another host, a scheme-relative //host, backslashes,
// control characters or spaces raw or percent-encoded, user information,
// a non-http scheme, more than MaxReturnTo bytes) it returns App.
func (r Returns) Resolve(returnTo string) string {
	if u, ok := r.resolve(returnTo); ok {
		return u.String()
	}
	return r.App()
}

func (r Returns) resolve(raw string) (*url.URL, bool) {
	if raw == "" || len(raw) > MaxReturnTo {
		return nil, false
	}
	// Printable ASCII only: browsers drop tabs and newlines inside URLs
	// ("/\t/evil" becomes "//evil") and read "\" as "/".
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return nil, false
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil {
		return nil, false
	}
	if strings.HasPrefix(raw, "/") {
		if strings.HasPrefix(raw, "//") || u.Scheme != "" || u.Host != "" {
			return nil, false
		}
		out := &url.URL{Scheme: r.app.Scheme, Host: r.app.Host, Path: u.Path, RawPath: u.RawPath,
			RawQuery: u.RawQuery, Fragment: u.Fragment, RawFragment: u.RawFragment}
		return out, safePath(out.Path)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !r.origins[config.Origin(u)] {
		return nil, false
	}
	return u, safePath(u.Path)
}

// safePath refuses a decoded path that a browser or the web app's router
// could still read as another host: one that starts with "//" or holds a
// backslash or a control character once percent-decoded.
func safePath(p string) bool {
	if strings.HasPrefix(p, "//") {
		return false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < ' ' || c == 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

// withError is to with error=code added to its query: how a failed
// sign-in tells the web app what happened.
func withError(to, code string) string {
	u, err := url.Parse(to)
	if err != nil {
		return to
	}
	q := u.Query()
	q.Set("error", code)
	u.RawQuery = q.Encode()
	return u.String()
}
