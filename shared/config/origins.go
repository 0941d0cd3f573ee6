package config

import (
	"errors"
	"net/url"
	"strings"
)

// ParseOrigin checks that s is a browser origin, scheme://host[:port] with
// no path, query, fragment or user information and no wildcard, and
// returns it as browsers send it in the Origin header: lower case, without
// the scheme's default port. With secure only https is accepted.
func ParseOrigin(s string, secure bool) (string, error) {
	if strings.Contains(s, "*") {
		return "", errors.New("must name one origin; a wildcard is never allowed with credentials")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", errors.New("must be an origin like https://app.example.com")
	}
	if u.User != nil || u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#") {
		return "", errors.New("must be an origin (scheme and host, with no path, not even /)")
	}
	if secure && u.Scheme != "https" {
		return "", errors.New("must use https in production")
	}
	return Origin(u), nil
}

// Origin is u's origin as browsers send it: scheme://host[:port], lower
// case, without the scheme's default port.
func Origin(u *url.URL) string {
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host
}

// AllowedOrigins are the origins, other than the API's own, that browsers
// may call the API from with credentials: CORS_ORIGINS and
// AUTH_REDIRECT_URL's origin (the web app sign-in lands on). The same list
// answers CORS and decides which cookie-authenticated writes are accepted,
// and an absolute returnTo of sign-in must be on one of them.
func (c *Config) AllowedOrigins() []string {
	self := ""
	if c.AuthURL != nil {
		self = Origin(c.AuthURL)
	}
	seen := map[string]bool{self: true}
	var out []string
	add := func(o string) {
		if !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	for _, o := range c.CORSOrigins {
		add(o)
	}
	if c.AuthRedirectURL != nil && c.AuthRedirectURL.Host != "" {
		add(Origin(c.AuthRedirectURL))
	}
	return out
}

func validateOrigins(cfg *Config, p *problemList) {
	prod := cfg.Env == Production
	var clean []string
	for _, s := range cfg.CORSOrigins {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		o, err := ParseOrigin(s, prod)
		if err != nil {
			p.add(VarCORSOrigins, "comma-separated origins; "+s+" "+err.Error())
			return
		}
		clean = append(clean, o)
	}
	cfg.CORSOrigins = clean
}
