package contacts_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/personalcrm/core/functions/routes/contacts"
	"github.com/personalcrm/core/functions/routes/jobs"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/feature"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/testkit"
)

func TestEnrich(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	q := queue.New(pool, queue.NewMemory(queue.MemoryOptions{}), nil)
	srv := api.NewServer(api.Options{Sessions: auth.NewSessions(pool), Features: feature.Gates{feature.Enrichment: true}},
		contacts.Enrich(contact.NewEnrichments(q)))
	alice, aliceToken := testkit.User(t, pool, "alice@example.com")
	bob, bobToken := testkit.User(t, pool, "bob@example.com")
	_, carolToken := testkit.User(t, pool, "carol@example.com") // without the feature
	// Dave unticked Contacts at Google's consent page; Erin's grant is gone.
	dave, daveToken := testkit.User(t, pool, "dave@example.com")
	erin, erinToken := testkit.User(t, pool, "erin@example.com")
	for u, acct := range map[uuid.UUID]struct {
		scope     string
		reconsent bool
	}{
		dave: {"openid email " + google.ScopeGmailReadonly, false},
		erin: {"openid email " + google.ScopeGmailReadonly + " " + google.ScopeContactsReadonly, true},
	} {
		if _, err := pool.Exec(ctx, `insert into accounts (id, user_id, provider, provider_account_id, refresh_token, needs_reconsent, scope)
			values ($1, $2, 'google', $3, 'sealed', $4, $5)`, uuid.Must(uuid.NewV7()), u, u.String(), acct.reconsent, acct.scope); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []uuid.UUID{alice, bob, dave, erin} {
		if _, err := feature.NewSettings(pool).Set(ctx, u, feature.Enrichment, true); err != nil {
			t.Fatal(err)
		}
	}
	svc := contact.NewService(pool)
	ada, err := svc.Create(ctx, alice, contact.Fields{Email: ptr("ada@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	carols, err := svc.Create(ctx, bob, contact.Fields{Email: ptr("carol@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	daves, err := svc.Create(ctx, dave, contact.Fields{Email: ptr("ada@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	erins, err := svc.Create(ctx, erin, contact.Fields{Email: ptr("ada@example.com")})
	if err != nil {
		t.Fatal(err)
	}

	for _, tr := range testkit.Transports(srv) {
		t.Run(tr.Name, func(t *testing.T) {
			enrich := func(token string, id uuid.UUID, body any) (int, []byte, jobs.Job, envelope) {
				res := tr.Do(t, testkit.Request("POST", "/v1/contacts/"+id.String()+"/enrich", token, body))
				var j jobs.Job
				raw := testkit.ReadJSON(t, res, &j)
				var env envelope
				json.Unmarshal(raw, &env)
				return res.StatusCode, raw, j, env
			}
			status, raw, first, _ := enrich(aliceToken, ada.ID, map[string]any{"sources": []string{"google-contacts"}})
			if status != http.StatusAccepted || first.Type != "enrichment" || first.ID == uuid.Nil {
				t.Fatalf("enrich: %d %s", status, raw)
			}
			// While it waits, another click answers the same job.
			status, raw, again, _ := enrich(aliceToken, ada.ID, nil)
			if status != http.StatusAccepted || again.ID != first.ID {
				t.Fatalf("second enrich: %d %s, want job %s", status, raw, first.ID)
			}
			j, err := queue.Get(ctx, pool, alice, first.ID)
			if err != nil {
				t.Fatalf("job: %v", err)
			}
			if j.SingletonKey == nil {
				t.Fatalf("job without a singleton key: %+v", j)
			}
			if want := contact.EnrichKey(ada.ID); *j.SingletonKey != want {
				t.Fatalf("job singleton key %q, want %q", *j.SingletonKey, want)
			}
			if j.Kind != catalog.Enrichment {
				t.Fatalf("job of kind %s", j.Kind)
			}
			p, err := queue.Decode[contact.EnrichmentJob](j.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if want := (contact.EnrichmentJob{UserID: alice, ContactID: ada.ID, Sources: []string{"google-contacts"}}); !cmp.Equal(p, want) {
				t.Fatalf("payload %+v, want %+v", p, want)
			}
			if _, err := pool.Exec(ctx, `update jobs set state = 'succeeded', finished_at = now() where kind = 'enrichment'`); err != nil {
				t.Fatal(err)
			}

			for name, c := range map[string]struct {
				token  string
				id     uuid.UUID
				body   any
				status int
				code   string
				fields []string
				prefix string
			}{
				"Contacts not granted":   {daveToken, daves.ID, nil, http.StatusForbidden, "FORBIDDEN", nil, "Grant access to Contacts"},
				"Google access revoked":  {erinToken, erins.ID, map[string]any{"sources": []string{"google-contacts"}}, http.StatusForbidden, "FORBIDDEN", nil, google.ReconnectMessage},
				"another user's contact": {aliceToken, carols.ID, nil, http.StatusNotFound, "NOT_FOUND", nil, ""},
				"no such contact":        {aliceToken, uuid.New(), nil, http.StatusNotFound, "NOT_FOUND", nil, ""},
				"feature off":            {carolToken, ada.ID, nil, http.StatusForbidden, "FORBIDDEN", nil, ""},
				"unknown source":         {aliceToken, ada.ID, map[string]any{"sources": []string{"web"}}, http.StatusBadRequest, "VALIDATION_ERROR", []string{"sources"}, ""},
				"no sources":             {aliceToken, ada.ID, map[string]any{"sources": []string{}}, http.StatusBadRequest, "VALIDATION_ERROR", []string{"sources"}, ""},
				"sources not a list":     {aliceToken, ada.ID, map[string]any{"sources": "google-contacts"}, http.StatusBadRequest, "VALIDATION_ERROR", []string{"sources"}, ""},
				"unknown field":          {bobToken, carols.ID, map[string]any{"everything": true}, http.StatusBadRequest, "VALIDATION_ERROR", []string{"everything"}, ""},
			} {
				status, raw, _, env := enrich(c.token, c.id, c.body)
				if status != c.status || env.Error.Code != c.code || !strings.HasPrefix(env.Error.Message, c.prefix) {
					t.Errorf("%s: %d %s", name, status, raw)
				}
				for _, f := range c.fields {
					if len(env.Error.Fields[f]) == 0 {
						t.Errorf("%s: no message for %q in %s", name, f, raw)
					}
				}
				if len(env.Error.Fields) != len(c.fields) {
					t.Errorf("%s: fields %v, want %v", name, env.Error.Fields, c.fields)
				}
			}
			var pending int
			if err := pool.QueryRow(ctx, `select count(*) from jobs where state <> 'succeeded'`).Scan(&pending); err != nil {
				t.Fatalf("count jobs: %v", err)
			}
			if pending != 0 {
				t.Fatalf("refused requests enqueued %d jobs", pending)
			}
		})
	}
	var msg envelope
	testkit.ReadJSON(t, testkit.Transports(srv)[0].Do(t, testkit.Request("POST", "/v1/contacts/"+ada.ID.String()+"/enrich", carolToken, nil)), &msg)
	if msg.Error.Message != "Enrichment is not enabled for this account" {
		t.Errorf("feature off: %q", msg.Error.Message)
	}
}
