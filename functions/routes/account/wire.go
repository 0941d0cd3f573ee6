package account

import (
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/user"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/platform"
)

// NewData builds the service of the routes that disconnect Google and
// delete users: it ends grants with the Google client and token store cfg
// describes. It does no I/O. Errors: a bad TOKEN_KEYS or Google
// configuration.
func NewData(cfg *config.Config, pool *db.Pool) (*user.Data, error) {
	_, tokens, err := google.TokensFromConfig(cfg, pool)
	if err != nil {
		return nil, err
	}
	return user.NewData(pool, tokens), nil
}

// NewGet builds GET /v1/user.
func NewGet(app *platform.App) (api.Route, error) { return Get(user.NewService(app.DB)), nil }

// NewUpdate builds PATCH /v1/user.
func NewUpdate(app *platform.App) (api.Route, error) { return Update(user.NewService(app.DB)), nil }

// NewFeatures builds GET /v1/user/features.
func NewFeatures(*platform.App) (api.Route, error) { return Features(), nil }

// NewSessionsList builds GET /v1/user/sessions.
func NewSessionsList(app *platform.App) (api.Route, error) { return SessionsList(app.Sessions), nil }

// NewSessionsRevoke builds DELETE /v1/user/sessions/{id}.
func NewSessionsRevoke(app *platform.App) (api.Route, error) {
	return SessionsRevoke(app.Sessions), nil
}

// NewSessionsRevokeAll builds POST /v1/user/sessions/revoke-all.
func NewSessionsRevokeAll(app *platform.App) (api.Route, error) {
	return SessionsRevokeAll(app.Sessions, sessionCookie(app)), nil
}

// NewDisconnect builds POST /v1/user/google/disconnect.
func NewDisconnect(app *platform.App) (api.Route, error) {
	data, err := NewData(app.Config, app.DB)
	if err != nil {
		return api.Route{}, err
	}
	return Disconnect(data, app.Log), nil
}

// NewDelete builds DELETE /v1/user.
func NewDelete(app *platform.App) (api.Route, error) {
	data, err := NewData(app.Config, app.DB)
	if err != nil {
		return api.Route{}, err
	}
	return Delete(DeleteDeps{Users: data, Sessions: app.Sessions, Cache: app.Cache, Log: app.Log, Cookies: sessionCookie(app)}), nil
}

// NewExport builds GET /v1/user/export.
func NewExport(app *platform.App) (api.Route, error) {
	return Export(ExportDeps{Users: user.NewData(app.DB, nil)}), nil
}

func sessionCookie(app *platform.App) auth.Cookie {
	return auth.SessionCookie(app.Config.AuthURL, app.Config.Env == config.Production)
}
