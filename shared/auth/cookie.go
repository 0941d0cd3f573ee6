package auth

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// CookieName is the session cookie's name without a prefix.
const CookieName = "crm_session"

// hostPrefix makes browsers accept a cookie only when it is Secure, has
// Path=/ and no Domain: no subdomain or plain-http page can set or shadow it.
const hostPrefix = "__Host-"

// Cookie is how a cookie of this API is set: HttpOnly, SameSite=Lax,
// Path=/, host-only, and Secure with the __Host- prefix except on plain
// http to a loopback host outside production (a local server in a
// browser).
type Cookie struct {
	Name   string
	Secure bool
}

// NewCookie returns the policy of the cookie called base for the API at
// authURL (nil: an https API).
func NewCookie(base string, authURL *url.URL, production bool) Cookie {
	secure := production || authURL == nil || authURL.Scheme != "http" || !loopback(authURL.Hostname())
	if secure {
		return Cookie{Name: hostPrefix + base, Secure: true}
	}
	return Cookie{Name: base}
}

// SessionCookie is the session cookie's policy for the API at authURL.
func SessionCookie(authURL *url.URL, production bool) Cookie {
	return NewCookie(CookieName, authURL, production)
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Set returns the cookie carrying value until expires.
func (c Cookie) Set(value string, expires time.Time) *http.Cookie {
	maxAge := int(time.Until(expires).Seconds())
	if maxAge < 1 {
		maxAge = 1
	}
	return &http.Cookie{
		Name: c.Name, Value: value, Path: "/",
		Expires: expires.UTC(), MaxAge: maxAge,
		HttpOnly: true, Secure: c.Secure, SameSite: http.SameSiteLaxMode,
	}
}

// Clear returns the cookie that deletes this one.
func (c Cookie) Clear() *http.Cookie {
	return &http.Cookie{
		Name: c.Name, Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(0, 0).UTC(),
		HttpOnly: true, Secure: c.Secure, SameSite: http.SameSiteLaxMode,
	}
}

// Read returns the cookie's value in r, or "".
func (c Cookie) Read(r *http.Request) string {
	k, err := r.Cookie(c.Name)
	if err != nil {
		return ""
	}
	return k.Value
}
