package emails_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/personalcrm/core/functions/routes/emails"
	"github.com/personalcrm/core/functions/routes/jobs"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/testkit"
)

type fixture struct {
	pool       *db.Pool
	server     *api.Server
	alice, bob uuid.UUID
	aliceToken string
	bobToken   string
}

func setup(t *testing.T) fixture {
	t.Helper()
	pool := testkit.DB(t)
	svc := email.NewService(pool)
	q := queue.New(pool, queue.NewMemory(queue.MemoryOptions{}), nil)
	srv := api.NewServer(api.Options{Sessions: auth.NewSessions(pool)},
		emails.List(svc), emails.Get(svc), emails.Sync(email.NewSyncs(pool, q)))
	alice, aliceToken := testkit.User(t, pool, "alice@example.com")
	bob, bobToken := testkit.User(t, pool, "bob@example.com")
	return fixture{pool: pool, server: srv, alice: alice, bob: bob, aliceToken: aliceToken, bobToken: bobToken}
}

type envelope struct {
	Error struct {
		Code    string              `json:"code"`
		Message string              `json:"message"`
		Fields  map[string][]string `json:"fields"`
	} `json:"error"`
}

type page struct {
	Items      []emails.Email `json:"items"`
	NextCursor *string        `json:"nextCursor"`
}

// seed stores n emails of user, the i-th sent i hours into 2026, from
// person i; every third is linked to the contact c.
func seed(t *testing.T, pool *db.Pool, user uuid.UUID, n int, c *contact.Contact) []email.Email {
	t.Helper()
	ctx := context.Background()
	var out []email.Email
	for i := range n {
		sent := time.Date(2026, 1, 1, i, 0, 0, 0, time.UTC)
		e, err := email.NewService(pool).Create(ctx, user, email.Fields{
			Subject: fmt.Sprintf("Subject %d", i), Snippet: fmt.Sprintf("snippet %d 100%%_done", i),
			From: fmt.Sprintf("Person %d <p%d@example.com>", i, i), To: "me@example.com", SentAt: &sent,
		})
		if err != nil {
			t.Fatal(err)
		}
		if c != nil && i%3 == 0 {
			if _, err := pool.Exec(ctx, `insert into email_contacts (email_id, contact_id, user_id, role) values ($1, $2, $3, 'from')`, e.ID, c.ID, user); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, e)
	}
	return out
}

func subjects(p page) []string {
	var out []string
	for _, e := range p.Items {
		out = append(out, *e.Subject)
	}
	return out
}

func list(t *testing.T, tr testkit.Transport, token, query string) page {
	t.Helper()
	res := tr.Do(t, testkit.Request("GET", "/v1/emails?"+query, token, nil))
	var p page
	raw := testkit.ReadJSON(t, res, &p)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("list %s: %d %s", query, res.StatusCode, raw)
	}
	return p
}

func TestListAndGet(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	friend, err := contact.NewService(f.pool).Create(ctx, f.alice, contact.Fields{Email: ptr("p0@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	bobs, err := contact.NewService(f.pool).Create(ctx, f.bob, contact.Fields{Email: ptr("p0@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	mine := seed(t, f.pool, f.alice, 7, &friend)
	theirs := seed(t, f.pool, f.bob, 2, nil)

	for _, tr := range testkit.Transports(f.server) {
		t.Run(tr.Name, func(t *testing.T) {
			// Every page of three, newest first.
			var seen []string
			query := "limit=3"
			for pages := 0; ; pages++ {
				if pages > 5 {
					t.Fatal("pagination does not end")
				}
				p := list(t, tr, f.aliceToken, query)
				seen = append(seen, subjects(p)...)
				if p.NextCursor == nil {
					break
				}
				query = "limit=3&cursor=" + url.QueryEscape(*p.NextCursor)
			}
			want := []string{"Subject 6", "Subject 5", "Subject 4", "Subject 3", "Subject 2", "Subject 1", "Subject 0"}
			if d := cmp.Diff(want, seen); d != "" {
				t.Fatalf("pages (-want +got):\n%s", d)
			}

			for query, want := range map[string][]string{
				"q=SUBJECT+4":                                      {"Subject 4"},
				"q=" + url.QueryEscape("person 2"):                 {"Subject 2"},
				"q=" + url.QueryEscape("100%_"):                    want,
				"q=nothing":                                        nil,
				"contactId=" + friend.ID.String():                  {"Subject 6", "Subject 3", "Subject 0"},
				"contactId=" + friend.ID.String() + "&q=subject+3": {"Subject 3"},
			} {
				if d := cmp.Diff(want, subjects(list(t, tr, f.aliceToken, query))); d != "" {
					t.Errorf("%s (-want +got):\n%s", query, d)
				}
			}

			res := tr.Do(t, testkit.Request("GET", "/v1/emails/"+mine[2].ID.String(), f.aliceToken, nil))
			var got emails.Email
			raw := testkit.ReadJSON(t, res, &got)
			if res.StatusCode != http.StatusOK || got.ID != mine[2].ID || *got.From != "Person 2 <p2@example.com>" ||
				!got.At.Equal(time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)) || got.Labels == nil {
				t.Fatalf("get: %d %s", res.StatusCode, raw)
			}

			// Another user's email, and a filter by another user's
			// contact, are not found.
			for name, target := range map[string]string{
				"email":   "/v1/emails/" + theirs[0].ID.String(),
				"unknown": "/v1/emails/" + uuid.NewString(),
				"contact": "/v1/emails?contactId=" + bobs.ID.String(),
			} {
				res := tr.Do(t, testkit.Request("GET", target, f.aliceToken, nil))
				var env envelope
				raw := testkit.ReadJSON(t, res, &env)
				if res.StatusCode != http.StatusNotFound || env.Error.Code != "NOT_FOUND" {
					t.Errorf("%s: %d %s", name, res.StatusCode, raw)
				}
			}
			if p := list(t, tr, f.bobToken, "q=subject"); len(p.Items) != 2 {
				t.Errorf("bob lists %d emails", len(p.Items))
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tr := testkit.Transports(f.server)
	for _, tt := range []struct {
		name, method, target, body string
		fields                     []string
	}{
		{"bad contactId", "GET", "/v1/emails?contactId=not-a-uuid", "", []string{"contactId"}},
		{"limit zero", "GET", "/v1/emails?limit=0", "", []string{"limit"}},
		{"limit too big", "GET", "/v1/emails?limit=101", "", []string{"limit"}},
		{"limit and contactId", "GET", "/v1/emails?limit=-1&contactId=12", "", []string{"limit", "contactId"}},
		{"invalid cursor", "GET", "/v1/emails?cursor=not*base64!", "", []string{"cursor"}},
		{"forged cursor", "GET", "/v1/emails?cursor=" + api.EncodeCursor(map[string]any{"x": 1}), "", []string{"cursor"}},
		{"bad id", "GET", "/v1/emails/1234", "", []string{"id"}},
		{"sync full not a boolean", "POST", "/v1/emails/sync", `{"full": "yes"}`, []string{"full"}},
		{"sync unknown field", "POST", "/v1/emails/sync", `{"everything": true}`, []string{"everything"}},
	} {
		for _, tr := range tr {
			t.Run(tr.Name+"/"+tt.name, func(t *testing.T) {
				var body any
				if tt.body != "" {
					body = tt.body
				}
				res := tr.Do(t, testkit.Request(tt.method, tt.target, f.aliceToken, body))
				var env envelope
				raw := testkit.ReadJSON(t, res, &env)
				if res.StatusCode != http.StatusBadRequest || env.Error.Code != "VALIDATION_ERROR" {
					t.Fatalf("got %d %s", res.StatusCode, raw)
				}
				for _, field := range tt.fields {
					if len(env.Error.Fields[field]) == 0 {
						t.Errorf("no message for field %q in %s", field, raw)
					}
				}
				if len(env.Error.Fields) != len(tt.fields) {
					t.Errorf("fields %v, want exactly %v", env.Error.Fields, tt.fields)
				}
			})
		}
	}
	var n int
	if err := f.pool.QueryRow(context.Background(), `select count(*) from jobs`).Scan(&n); err != nil {
		t.Fatalf("count jobs: %v", err)
	}
	if n != 0 {
		t.Fatalf("bad input enqueued %d jobs", n)
	}
}

// account gives user a Google account with a refresh token that granted
// Gmail.
func account(t *testing.T, pool *db.Pool, user uuid.UUID, subject string, reconsent bool) uuid.UUID {
	t.Helper()
	return accountWith(t, pool, user, subject, reconsent, "openid email "+google.ScopeGmailReadonly)
}

// accountWith gives user a Google account with a refresh token that
// granted scope.
func accountWith(t *testing.T, pool *db.Pool, user uuid.UUID, subject string, reconsent bool, scope string) uuid.UUID {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	if _, err := pool.Exec(context.Background(), `insert into accounts (id, user_id, provider, provider_account_id, refresh_token, needs_reconsent, scope)
		values ($1, $2, 'google', $3, 'sealed', $4, $5)`, id, user, subject, reconsent, scope); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestSync(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	acct := account(t, f.pool, f.alice, "alice-sub", false)
	carol, carolToken := testkit.User(t, f.pool, "carol@example.com")
	account(t, f.pool, carol, "carol-sub", true)
	// Dave unticked Gmail at Google's consent page.
	dave, daveToken := testkit.User(t, f.pool, "dave@example.com")
	accountWith(t, f.pool, dave, "dave-sub", false, "openid email "+google.ScopeContactsReadonly)
	_, erinToken := testkit.User(t, f.pool, "erin@example.com")
	if _, err := f.pool.Exec(ctx, `insert into accounts (id, user_id, provider, provider_account_id, disconnected_at)
		select $1, id, 'google', 'erin-sub', now() from users where email = 'erin@example.com'`, uuid.Must(uuid.NewV7())); err != nil {
		t.Fatal(err)
	}

	for _, tr := range testkit.Transports(f.server) {
		t.Run(tr.Name, func(t *testing.T) {
			sync := func(body any) (int, jobs.Job, []byte) {
				res := tr.Do(t, testkit.Request("POST", "/v1/emails/sync", f.aliceToken, body))
				var j jobs.Job
				raw := testkit.ReadJSON(t, res, &j)
				return res.StatusCode, j, raw
			}
			status, first, raw := sync(map[string]any{"full": true})
			if status != http.StatusAccepted || first.Type != "email-sync" || first.ID == uuid.Nil ||
				(first.State != "pending" && first.State != "sent") {
				t.Fatalf("sync: %d %s", status, raw)
			}
			// While it waits, a second request answers the same job.
			status, again, raw := sync(nil)
			if status != http.StatusAccepted || again.ID != first.ID {
				t.Fatalf("second sync: %d %s, want job %s", status, raw, first.ID)
			}
			j, err := queue.Get(ctx, f.pool, f.alice, first.ID)
			if err != nil {
				t.Fatalf("job: %v", err)
			}
			if j.SingletonKey == nil {
				t.Fatalf("job without a singleton key: %+v", j)
			}
			if want := email.SyncKey(acct); *j.SingletonKey != want {
				t.Fatalf("job singleton key %q, want %q", *j.SingletonKey, want)
			}
			p, err := queue.Decode[email.SyncJob](j.Payload)
			if err != nil {
				t.Fatalf("payload: %v", err)
			}
			if j.Kind != catalog.EmailSync {
				t.Fatalf("job of kind %q, want %q", j.Kind, catalog.EmailSync)
			}
			if d := cmp.Diff(email.SyncJob{UserID: f.alice, AccountID: acct, Full: true}, p); d != "" {
				t.Fatalf("payload (-want +got):\n%s", d)
			}
			// Once it is done, a new request is a new job.
			if _, err := f.pool.Exec(ctx, `update jobs set state = 'succeeded', finished_at = now() where id = $1`, first.ID); err != nil {
				t.Fatal(err)
			}
			if status, next, raw := sync(nil); status != http.StatusAccepted || next.ID == first.ID {
				t.Fatalf("sync after the first ended: %d %s", status, raw)
			}
			if _, err := f.pool.Exec(ctx, `update jobs set state = 'succeeded', finished_at = now() where kind = 'email-sync'`); err != nil {
				t.Fatal(err)
			}

			for name, c := range map[string]struct {
				token  string
				status int
				code   string
				says   string
			}{
				"no Google account": {f.bobToken, http.StatusNotFound, "NOT_FOUND", ""},
				"needs consent":     {carolToken, http.StatusForbidden, "FORBIDDEN", "Reconnect your Google account"},
				"Gmail not granted": {daveToken, http.StatusForbidden, "FORBIDDEN", "Grant access to Gmail"},
				"disconnected":      {erinToken, http.StatusNotFound, "NOT_FOUND", "sign in with Google to connect one"},
			} {
				res := tr.Do(t, testkit.Request("POST", "/v1/emails/sync", c.token, nil))
				var env envelope
				raw := testkit.ReadJSON(t, res, &env)
				if res.StatusCode != c.status || env.Error.Code != c.code || !strings.Contains(string(raw), c.says) {
					t.Errorf("%s: %d %s", name, res.StatusCode, raw)
				}
			}
			var others int
			if err := f.pool.QueryRow(ctx, `select count(*) from jobs where user_id <> $1`, f.alice).Scan(&others); err != nil {
				t.Fatalf("count jobs: %v", err)
			}
			if others != 0 {
				t.Fatalf("%d jobs of users who cannot sync", others)
			}
		})
	}
}

func ptr(s string) *string { return &s }
