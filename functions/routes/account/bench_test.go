package account_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/personalcrm/core/functions/routes/account"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/domain/user"
	"github.com/personalcrm/core/shared/testkit"
)

// BenchmarkGetUser compares GET /v1/user served in-process (routing,
// session, flags, handler, JSON) with its bare database work: resolving
// the session and reading the user. The budget is 1.25x.
func BenchmarkGetUser(b *testing.B) {
	pool := testkit.DB(b)
	sessions := auth.NewSessions(pool)
	users := user.NewService(pool)
	_, token := testkit.User(b, pool, "bench@example.com")
	ctx := context.Background()

	b.Run("bare", func(b *testing.B) {
		for b.Loop() {
			p, err := sessions.Resolve(ctx, token)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := users.Get(ctx, p.UserID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("route", func(b *testing.B) {
		srv := api.NewServer(api.Options{Sessions: sessions}, account.Get(users))
		b.ReportAllocs()
		for b.Loop() {
			r := httptest.NewRequest("GET", "/v1/user", nil)
			r.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatal(w.Code)
			}
		}
	})
}
