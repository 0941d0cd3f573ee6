// Package account serves the signed-in user's routes: their profile, their
// feature flags, their sessions, and what they decide about their data
// (disconnecting Google, deleting their account, exporting it).
package account

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/user"
	"github.com/personalcrm/core/shared/feature"
)

// User is the signed-in user on the wire.
type User struct {
	ID       uuid.UUID `json:"id" format:"uuid"`
	Email    string    `json:"email" format:"email" doc:"The Google account's email address"`
	Name     *string   `json:"name" nullable:"true"`
	ImageURL *string   `json:"imageUrl" nullable:"true" format:"uri"`
	// NeedsReconsent asks the web app to send the user through sign-in
	// again.
	NeedsReconsent bool `json:"needsReconsent" doc:"Google access has expired or was revoked; signing in again restores it"`
	// GoogleConnected tells the web app whether to offer connecting a
	// Google account.
	GoogleConnected bool      `json:"googleConnected" doc:"A Google account is connected (signing in with Google connects one; disconnecting ends it)"`
	CreatedAt       time.Time `json:"createdAt"`
	UpdatedAt       time.Time `json:"updatedAt"`
}

func toUser(u user.User) User {
	return User{
		ID: u.ID, Email: u.Email, Name: u.Name, ImageURL: u.ImageURL, NeedsReconsent: u.NeedsReconsent, GoogleConnected: u.GoogleConnected,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(),
	}
}

// UserOutput is the signed-in user.
type UserOutput struct {
	Body User
}

// Getter reads users.
type Getter interface {
	Get(ctx context.Context, id uuid.UUID) (user.User, error)
}

// Get answers GET /v1/user.
func Get(users Getter) api.Route {
	return api.Handle(catalog.UserGet, func(ctx context.Context, _ *struct{}) (*UserOutput, error) {
		id, err := auth.UserID(ctx)
		if err != nil {
			return nil, err
		}
		u, err := users.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		return &UserOutput{Body: toUser(u)}, nil
	})
}

// UpdateInput changes the profile: absent fields stay as they are, null
// clears a field.
type UpdateInput struct {
	Body struct {
		Name     api.Optional[string] `json:"name,omitzero" maxLength:"200"`
		ImageURL api.Optional[string] `json:"imageUrl,omitzero" maxLength:"2048" doc:"An https URL"`
	}
}

// Updater changes users.
type Updater interface {
	Update(ctx context.Context, id uuid.UUID, p user.Patch) (user.User, error)
}

// Update answers PATCH /v1/user.
func Update(users Updater) api.Route {
	return api.Handle(catalog.UserUpdate, func(ctx context.Context, in *UpdateInput) (*UserOutput, error) {
		id, err := auth.UserID(ctx)
		if err != nil {
			return nil, err
		}
		u, err := users.Update(ctx, id, user.Patch{Name: in.Body.Name.Ptr(), ImageURL: in.Body.ImageURL.Ptr()})
		if err != nil {
			return nil, err
		}
		return &UserOutput{Body: toUser(u)}, nil
	})
}

// FeaturesOutput is every feature flag, on or off for the user.
type FeaturesOutput struct {
	Body struct {
		Features map[string]bool `json:"features" doc:"Each flag's name and whether the user has it"`
	}
}

// Features answers GET /v1/user/features with the flags the request was
// evaluated with: the environment's gates, then the user's own settings.
func Features() api.Route {
	return api.Handle(catalog.UserFeatures, func(ctx context.Context, _ *struct{}) (*FeaturesOutput, error) {
		if _, err := auth.UserID(ctx); err != nil {
			return nil, err
		}
		out := &FeaturesOutput{}
		out.Body.Features = map[string]bool{}
		for f, on := range feature.From(ctx) {
			out.Body.Features[string(f)] = on
		}
		return out, nil
	})
}

// Session is one of the user's sessions on the wire.
type Session struct {
	ID         uuid.UUID `json:"id" format:"uuid"`
	CreatedAt  time.Time `json:"createdAt"`
	LastUsedAt time.Time `json:"lastUsedAt" doc:"When the session was last renewed; it is renewed at most daily"`
	ExpiresAt  time.Time `json:"expiresAt"`
	UserAgent  *string   `json:"userAgent" nullable:"true"`
	IP         *string   `json:"ip" nullable:"true"`
	Current    bool      `json:"current" doc:"This is the session of the request"`
}

// SessionsOutput lists sessions.
type SessionsOutput struct {
	Body struct {
		Items []Session `json:"items"`
		// NextCursor is always null: a user has few live sessions, and
		// all of them (up to 100) come in one page.
		NextCursor *string `json:"nextCursor" nullable:"true"`
	}
}

// SessionLister lists a user's sessions.
type SessionLister interface {
	List(ctx context.Context, userID uuid.UUID) ([]auth.Session, error)
}

// SessionsList answers GET /v1/user/sessions: the user's live sessions,
// newest first.
func SessionsList(sessions SessionLister) api.Route {
	return api.Handle(catalog.UserSessionsList, func(ctx context.Context, _ *struct{}) (*SessionsOutput, error) {
		p, ok := auth.From(ctx)
		if !ok {
			_, err := auth.UserID(ctx)
			return nil, err
		}
		list, err := sessions.List(ctx, p.UserID)
		if err != nil {
			return nil, err
		}
		out := &SessionsOutput{}
		out.Body.Items = make([]Session, len(list))
		for i, s := range list {
			out.Body.Items[i] = Session{
				ID: s.ID, CreatedAt: s.CreatedAt.UTC(), LastUsedAt: s.LastUsedAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(),
				UserAgent: s.UserAgent, IP: s.IP, Current: s.ID == p.SessionID,
			}
		}
		return out, nil
	})
}

// SessionInput names one session.
type SessionInput struct {
	ID uuid.UUID `path:"id" format:"uuid" doc:"The session's id"`
}

// SessionRevoker ends a user's session.
type SessionRevoker interface {
	Revoke(ctx context.Context, userID, id uuid.UUID) error
}

// SessionsRevoke answers DELETE /v1/user/sessions/{id}: the session ends
// and its token stops working at once. Another user's session is 404.
func SessionsRevoke(sessions SessionRevoker) api.Route {
	return api.Handle(catalog.UserSessionsRevoke, func(ctx context.Context, in *SessionInput) (*struct{}, error) {
		userID, err := auth.UserID(ctx)
		if err != nil {
			return nil, err
		}
		return nil, sessions.Revoke(ctx, userID, in.ID)
	}, api.Status(http.StatusNoContent))
}

// AllSessionsRevoker ends every session of a user.
type AllSessionsRevoker interface {
	RevokeAll(ctx context.Context, userID uuid.UUID) (int, error)
}

// RevokeAllOutput deletes the session cookie: the request's own session
// has ended too.
type RevokeAllOutput struct {
	SetCookie    http.Cookie `header:"Set-Cookie" doc:"Deletes the session cookie"`
	CacheControl string      `header:"Cache-Control"`
}

// SessionsRevokeAll answers POST /v1/user/sessions/revoke-all ("sign out
// everywhere"): every session of the user ends at once, the request's own
// included, on every device; each signs in again. cookie is the session
// cookie, which the answer deletes.
func SessionsRevokeAll(sessions AllSessionsRevoker, cookie auth.Cookie) api.Route {
	return api.Handle(catalog.UserSessionsRevokeAll, func(ctx context.Context, _ *struct{}) (*RevokeAllOutput, error) {
		userID, err := auth.UserID(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := sessions.RevokeAll(ctx, userID); err != nil {
			return nil, err
		}
		return &RevokeAllOutput{SetCookie: *cookie.Clear(), CacheControl: "no-store"}, nil
	}, api.Status(http.StatusNoContent))
}
