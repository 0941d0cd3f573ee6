package calendar_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/personalcrm/core/functions/routes/calendar"
	"github.com/personalcrm/core/functions/routes/jobs"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/meeting"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/testkit"
)

type envelope struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// account gives user a Google account with a refresh token that granted
// scope.
func account(t *testing.T, pool *db.Pool, user uuid.UUID, subject string, reconsent bool, scope string) uuid.UUID {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	if _, err := pool.Exec(context.Background(), `insert into accounts (id, user_id, provider, provider_account_id, refresh_token, needs_reconsent, scope)
		values ($1, $2, 'google', $3, 'sealed', $4, $5)`, id, user, subject, reconsent, scope); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestSync: POST /v1/calendar/sync enqueues one calendar-sync per
// account, and refuses accounts that cannot sync without enqueueing.
func TestSync(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	q := queue.New(pool, queue.NewMemory(queue.MemoryOptions{}), nil)
	srv := api.NewServer(api.Options{Sessions: auth.NewSessions(pool)}, calendar.Sync(meeting.NewService(pool, nil, nil, q)))
	granted := "openid email " + google.ScopeGmailReadonly + " " + google.ScopeCalendarReadonly

	alice, aliceToken := testkit.User(t, pool, "alice@example.com")
	acct := account(t, pool, alice, "alice-sub", false, granted)
	_, bobToken := testkit.User(t, pool, "bob@example.com")
	carol, carolToken := testkit.User(t, pool, "carol@example.com")
	account(t, pool, carol, "carol-sub", true, granted)
	// Dave unticked the calendar at Google's consent page.
	dave, daveToken := testkit.User(t, pool, "dave@example.com")
	account(t, pool, dave, "dave-sub", false, "openid email "+google.ScopeGmailReadonly)
	_, erinToken := testkit.User(t, pool, "erin@example.com")
	if _, err := pool.Exec(ctx, `insert into accounts (id, user_id, provider, provider_account_id, disconnected_at)
		select $1, id, 'google', 'erin-sub', now() from users where email = 'erin@example.com'`, uuid.Must(uuid.NewV7())); err != nil {
		t.Fatal(err)
	}

	for _, tr := range testkit.Transports(srv) {
		t.Run(tr.Name, func(t *testing.T) {
			sync := func(body any) (int, jobs.Job, []byte) {
				res := tr.Do(t, testkit.Request("POST", "/v1/calendar/sync", aliceToken, body))
				var j jobs.Job
				raw := testkit.ReadJSON(t, res, &j)
				return res.StatusCode, j, raw
			}
			status, first, raw := sync(map[string]any{"full": true})
			if status != http.StatusAccepted || first.Type != "calendar-sync" || first.ID == uuid.Nil {
				t.Fatalf("sync: %d %s", status, raw)
			}
			if status, again, raw := sync(nil); status != http.StatusAccepted || again.ID != first.ID {
				t.Fatalf("second sync: %d %s, want job %s", status, raw, first.ID)
			}
			j, err := queue.Get(ctx, pool, alice, first.ID)
			if err != nil || j.SingletonKey == nil || *j.SingletonKey != meeting.SyncKey(acct) {
				t.Fatalf("job %+v %v", j, err)
			}
			p, err := queue.Decode[meeting.SyncJob](j.Payload)
			if err != nil || j.Kind != catalog.CalendarSync || p != (meeting.SyncJob{UserID: alice, AccountID: acct, Full: true}) {
				t.Fatalf("payload %+v %v", p, err)
			}
			if _, err := pool.Exec(ctx, `update jobs set state = 'succeeded', finished_at = now() where kind = 'calendar-sync'`); err != nil {
				t.Fatal(err)
			}

			for name, c := range map[string]struct {
				token  string
				status int
				code   string
				says   string
			}{
				"no Google account":    {bobToken, http.StatusNotFound, "NOT_FOUND", ""},
				"needs consent":        {carolToken, http.StatusForbidden, "FORBIDDEN", "Reconnect your Google account"},
				"calendar not granted": {daveToken, http.StatusForbidden, "FORBIDDEN", "Grant access to Google Calendar"},
				"disconnected":         {erinToken, http.StatusNotFound, "NOT_FOUND", "sign in with Google to connect one"},
			} {
				res := tr.Do(t, testkit.Request("POST", "/v1/calendar/sync", c.token, nil))
				var env envelope
				raw := testkit.ReadJSON(t, res, &env)
				if res.StatusCode != c.status || env.Error.Code != c.code || !strings.Contains(string(raw), c.says) {
					t.Errorf("%s: %d %s", name, res.StatusCode, raw)
				}
			}
			var others int
			if err := pool.QueryRow(ctx, `select count(*) from jobs where user_id <> $1`, alice).Scan(&others); err != nil || others != 0 {
				t.Fatalf("%d jobs of users who cannot sync: %v", others, err)
			}
		})
	}
}
