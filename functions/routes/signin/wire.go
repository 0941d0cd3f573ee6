package signin

import (
	"fmt"
	"log/slog"
	"net/url"

	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/domain/meeting"
	"github.com/personalcrm/core/shared/domain/user"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
)

// LoginURL is the login route's absolute URL on the API at authURL.
func LoginURL(authURL *url.URL) string {
	return authURL.JoinPath(catalog.MustLookup(catalog.AuthLogin).Path).String()
}

// NewLoginDeps builds Login's dependencies from the configuration. It does
// no I/O.
func NewLoginDeps(cfg *config.Config, pool *db.Pool, sessions *auth.CachedSessions, log *slog.Logger) (LoginDeps, error) {
	g, err := google.FromConfig(cfg)
	if err != nil {
		return LoginDeps{}, err
	}
	return LoginDeps{
		Google:   g,
		States:   auth.NewStates(pool, []byte(cfg.AuthSecret.Reveal())),
		Grants:   user.NewSignIn(pool, nil, nil),
		Sessions: sessions,
		Cookies:  CookiesFor(cfg.AuthURL, cfg.Env == config.Production),
		Returns:  ReturnsFor(cfg),
		Log:      log,
	}, nil
}

// NewCallbackDeps builds Callback's dependencies from the configuration;
// a sign-in enqueues the account's first mail sync on q. It does no I/O.
// Errors: a bad TOKEN_KEYS or Google configuration.
func NewCallbackDeps(cfg *config.Config, pool *db.Pool, sessions *auth.CachedSessions, q *queue.Queue, log *slog.Logger) (CallbackDeps, error) {
	g, tokens, err := google.TokensFromConfig(cfg, pool)
	if err != nil {
		return CallbackDeps{}, err
	}
	if cfg.AuthRedirectURL == nil {
		return CallbackDeps{}, fmt.Errorf("%s is not set", config.VarAuthRedirectURL)
	}
	return CallbackDeps{
		Google:   g,
		States:   auth.NewStates(pool, []byte(cfg.AuthSecret.Reveal())),
		SignIn:   user.NewSignIn(pool, tokens, sessions).WithMailSync(q, email.NewSyncs(pool, q)).WithCalendarSync(meeting.NewService(pool, nil, nil, q)),
		Cookies:  CookiesFor(cfg.AuthURL, cfg.Env == config.Production),
		Returns:  ReturnsFor(cfg),
		LoginURL: LoginURL(cfg.AuthURL),
		Log:      log,
	}, nil
}

// NewLogin builds GET /auth/google/login.
func NewLogin(app *platform.App) (api.Route, error) {
	d, err := NewLoginDeps(app.Config, app.DB, app.Sessions, app.Log)
	if err != nil {
		return api.Route{}, err
	}
	return Login(d), nil
}

// NewLogout builds POST /auth/logout.
func NewLogout(app *platform.App) (api.Route, error) {
	cookies := CookiesFor(app.Config.AuthURL, app.Config.Env == config.Production)
	return Logout(app.Sessions, cookies, ReturnsFor(app.Config)), nil
}
