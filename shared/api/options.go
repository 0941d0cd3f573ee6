package api

import (
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/feature"
)

// WithConfig returns o with what the configuration decides: the session
// cookie's name and Secure flag (from AUTH_URL and the environment), the
// trusted origins (the API's own and config.AllowedOrigins, exactly the
// origins CORS answers) and the feature gates.
func (o Options) WithConfig(cfg *config.Config) Options {
	o.Cookie = auth.SessionCookie(cfg.AuthURL, cfg.Env == config.Production)
	o.TrustedOrigins = nil
	if cfg.AuthURL != nil && cfg.AuthURL.Host != "" {
		o.TrustedOrigins = append(o.TrustedOrigins, config.Origin(cfg.AuthURL))
	}
	o.TrustedOrigins = append(o.TrustedOrigins, cfg.AllowedOrigins()...)
	o.Features = feature.GatesOf(cfg.Features)
	return o
}
