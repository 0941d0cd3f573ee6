package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/user"
	"github.com/personalcrm/core/shared/errs"
)

type userEnsurer interface {
	EnsureByEmail(ctx context.Context, email string) (user.User, error)
}

type sessionCreator interface {
	Create(ctx context.Context, q db.Querier, userID uuid.UUID, m auth.Meta) (string, auth.Session, error)
}

// devLogin answers POST /auth/dev-login {"email"} with a session token for
// that user, creating the user when needed. Only the local server has it:
// it is not in the catalog and no Lambda serves it.
func devLogin(srv *api.Server, users userEnsurer, sessions sessionCreator) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Email string `json:"email"`
		}
		dec := json.NewDecoder(io.LimitReader(r.Body, 4<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			srv.WriteError(w, r, errs.Field("body", "must be a JSON object with an email"))
			return
		}
		u, err := users.EnsureByEmail(r.Context(), in.Email)
		if err != nil {
			srv.WriteError(w, r, err)
			return
		}
		token, sess, err := sessions.Create(r.Context(), nil, u.ID, auth.Meta{UserAgent: r.UserAgent(), IP: r.RemoteAddr})
		if err != nil {
			srv.WriteError(w, r, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"token": token, "userId": u.ID, "expiresAt": sess.ExpiresAt.UTC()})
	}
}
