package api

import (
	"net/url"

	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/feature"
)

// WithConfig returns o with what the configuration decides: the session
// cookie's name and Secure flag (from AUTH_URL and the environment), the
// trusted origins (AUTH_URL's and AUTH_REDIRECT_URL's, the web app) and
// the feature gates.
func (o Options) WithConfig(cfg *config.Config) Options {
	o.Cookie = auth.SessionCookie(cfg.AuthURL, cfg.Env == config.Production)
	o.TrustedOrigins = nil
	for _, u := range []*url.URL{cfg.AuthURL, cfg.AuthRedirectURL} {
		if u != nil && u.Host != "" {
			o.TrustedOrigins = append(o.TrustedOrigins, u.Scheme+"://"+u.Host)
		}
	}
	o.Features = feature.GatesOf(cfg.Features)
	return o
}
