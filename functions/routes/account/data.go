package account

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/domain/user"
	"github.com/personalcrm/core/shared/feature"
	"github.com/personalcrm/core/shared/logging"
)

// GrantsURL is where a person sees, and can remove, the apps their Google
// account has granted access to.
const GrantsURL = "https://myaccount.google.com/permissions"

// revocationDoc documents the revocation field of the answers.
const revocationDoc = "What Google said when the grant was revoked: revoked (Google confirmed that it is gone), " +
	"unconfirmed (Google could not be reached: the tokens are deleted here anyway, and the app can be removed at " +
	GrantsURL + ") or none (no token was left to revoke)"

// DisconnectOutput says what disconnecting came to.
type DisconnectOutput struct {
	Body struct {
		DisconnectedAt time.Time `json:"disconnectedAt" doc:"When the account was disconnected (by this request or an earlier one)"`
		Revocation     string    `json:"revocation" enum:"revoked,unconfirmed,none" doc:"What Google said when the grant was revoked"`
	}
}

// Disconnector disconnects users' Google accounts.
type Disconnector interface {
	Disconnect(ctx context.Context, userID uuid.UUID) (user.Disconnection, error)
}

// Disconnect answers POST /v1/user/google/disconnect: the Google grant is
// ended at Google (the Gmail watch stopped, the grant revoked) and its
// tokens deleted here, even when Google cannot be reached (revocation
// "unconfirmed"); nothing syncs the account any more, and the user's
// contacts, mail and insights stay. Signing in with Google connects it
// again. Calling it again answers the same disconnection, with nothing
// left to revoke. A user without a Google account is 404.
func Disconnect(d Disconnector, log *slog.Logger) api.Route {
	if log == nil {
		log = logging.Discard()
	}
	return api.Handle(catalog.UserGoogleDisconnect, func(ctx context.Context, _ *struct{}) (*DisconnectOutput, error) {
		id, err := auth.UserID(ctx)
		if err != nil {
			return nil, err
		}
		res, err := d.Disconnect(ctx, id)
		if err != nil {
			return nil, err
		}
		if res.Err != nil {
			log.WarnContext(ctx, "google grant not confirmed revoked; account disconnected anyway", "revocation", res.Revocation, "err", res.Err)
		}
		out := &DisconnectOutput{}
		out.Body.DisconnectedAt = res.DisconnectedAt.UTC()
		out.Body.Revocation = string(res.Revocation)
		return out, nil
	}, api.Document(func(op *huma.Operation) {
		op.Description = revocationDoc
	}))
}

// DeleteOutput says what deleting the account came to, and deletes the
// session cookie.
type DeleteOutput struct {
	SetCookie    http.Cookie `header:"Set-Cookie" doc:"Deletes the session cookie"`
	CacheControl string      `header:"Cache-Control"`
	Body         struct {
		Deleted    bool   `json:"deleted"`
		Revocation string `json:"revocation" enum:"revoked,unconfirmed,none" doc:"What Google said when the grant was revoked"`
	}
}

// Deleter deletes users.
type Deleter interface {
	Delete(ctx context.Context, id uuid.UUID) (user.Deletion, error)
}

// SessionForgetter drops the cached lookups of sessions by their stored
// hashes (auth.CachedSessions does).
type SessionForgetter interface {
	ForgetHashes(ctx context.Context, hashes [][]byte)
}

// CacheScopes are the cache scopes that hold a user's data: deleting the
// user drops them all. A new scope of a user's data belongs here (a test
// finds every scope the code names).
var CacheScopes = []func(userID uuid.UUID) cache.Scope{contact.Scope, feature.Scope}

// DeleteDeps are what DELETE /v1/user needs.
type DeleteDeps struct {
	Users    Deleter
	Sessions SessionForgetter
	// Cache is the cache the user's scopes and sessions are dropped from;
	// nil for none.
	Cache   *cache.Cache
	Cookies auth.Cookie
	Log     *slog.Logger
}

// Delete answers DELETE /v1/user: the signed-in user's Google grant is
// revoked at Google (as far as Google answers), then their account and
// everything that is theirs is deleted in one transaction, what the cache
// holds of them is dropped, and the session cookie deleted. Every session
// of theirs stops working at once.
func Delete(d DeleteDeps) api.Route {
	if d.Log == nil {
		d.Log = logging.Discard()
	}
	return api.Handle(catalog.UserDelete, func(ctx context.Context, _ *struct{}) (*DeleteOutput, error) {
		id, err := auth.UserID(ctx)
		if err != nil {
			return nil, err
		}
		res, err := d.Users.Delete(ctx, id)
		if err != nil {
			return nil, err
		}
		if res.Err != nil {
			d.Log.WarnContext(ctx, "google grant not confirmed revoked; user deleted anyway", "revocation", res.Revocation, "err", res.Err)
		}
		if d.Sessions != nil {
			d.Sessions.ForgetHashes(ctx, res.SessionHashes)
		}
		for _, scope := range CacheScopes {
			d.Cache.Drop(ctx, scope(id))
		}
		d.Log.InfoContext(ctx, "user deleted", "revocation", res.Revocation)
		out := &DeleteOutput{SetCookie: *d.Cookies.Clear(), CacheControl: "no-store"}
		out.Body.Deleted = true
		out.Body.Revocation = string(res.Revocation)
		return out, nil
	}, api.Document(func(op *huma.Operation) {
		op.Description = revocationDoc
	}))
}

// Exporter writes a user's data (user.Data does).
type Exporter interface {
	Export(ctx context.Context, id uuid.UUID, open func() io.Writer) error
}

// ExportDeps are what GET /v1/user/export needs.
type ExportDeps struct {
	Users Exporter
}

// Export answers GET /v1/user/export: everything the system holds about
// the signed-in user (user.Export), as one JSON document written row by
// row as it is read; opened as a link in a browser, it downloads as a
// file. It is gzip-compressed for a client that accepts it. Through API
// Gateway a Lambda's answer is at most 6 MB: a larger answer is an
// internal error, and logged.
func Export(d ExportDeps) api.Route {
	return api.Handle(catalog.UserExport, func(ctx context.Context, _ *struct{}) (*api.Stream, error) {
		id, err := auth.UserID(ctx)
		if err != nil {
			return nil, err
		}
		filename := fmt.Sprintf("personal-crm-export-%s.json", time.Now().UTC().Format("2006-01-02"))
		return api.Streamed("application/json", map[string]string{
			"Content-Disposition": `attachment; filename="` + filename + `"`,
		}, func(ctx context.Context, open func() io.Writer) error {
			return d.Users.Export(ctx, id, open)
		}), nil
	}, api.Streams("application/json", user.Export{}))
}
