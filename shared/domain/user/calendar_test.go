package user_test

import (
	"context"
	"testing"

	"golang.org/x/oauth2"

	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/domain/meeting"
	"github.com/personalcrm/core/shared/domain/user"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/queue"
)

// TestSignInStartsCalendarSync: a sign-in whose account granted the
// calendar enqueues its calendar sync with its mail sync, one per
// account; one without the calendar enqueues none.
func TestSignInStartsCalendarSync(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, s := signIn(t)
	q := queue.New(pool, nil, nil)
	s.WithMailSync(q, email.NewSyncs(pool, q)).WithCalendarSync(meeting.NewService(pool, nil, nil, q))
	withScope := func(tk *oauth2.Token, scope string) *oauth2.Token {
		return tk.WithExtra(map[string]any{"scope": scope})
	}
	pending := func(kind string) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `select count(*) from jobs where kind = $1 and state = 'pending'`, kind).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	ada := user.Identity{Subject: "101", Email: "ada@example.com", EmailVerified: true}
	if _, err := s.Complete(ctx, ada, withScope(tok("1//r"), "openid email "+google.ScopeGmailReadonly), auth.Meta{}); err != nil ||
		pending("calendar-sync") != 0 || pending("email-sync") != 1 {
		t.Fatalf("without the calendar: %v, %d calendar syncs", err, pending("calendar-sync"))
	}
	for i := range 2 {
		res, err := s.Complete(ctx, ada, withScope(tok(""), "openid email "+google.ScopeGmailReadonly+" "+google.ScopeCalendarReadonly), auth.Meta{})
		if err != nil || pending("calendar-sync") != 1 {
			t.Fatalf("sign-in %d with the calendar: %v, %d calendar syncs", i+1, err, pending("calendar-sync"))
		}
		var payload meeting.SyncJob
		if err := pool.QueryRow(ctx, `select payload from jobs where kind = 'calendar-sync'`).Scan(&payload); err != nil ||
			payload != (meeting.SyncJob{UserID: res.User.ID, AccountID: res.AccountID}) {
			t.Fatalf("payload %+v: %v", payload, err)
		}
	}
}
