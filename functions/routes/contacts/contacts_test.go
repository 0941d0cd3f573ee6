package contacts_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/personalcrm/core/functions/routes/contacts"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/testkit"
)

type fixture struct {
	pool   *db.Pool
	server *api.Server
	alice  string // token
	bob    string
}

func setup(t *testing.T) fixture {
	t.Helper()
	pool := testkit.DB(t)
	svc := contact.NewService(pool)
	srv := api.NewServer(api.Options{Sessions: auth.NewSessions(pool)},
		contacts.List(svc), contacts.Create(svc), contacts.Get(svc), contacts.Update(svc), contacts.Delete(svc), contacts.Timeline(svc))
	_, alice := testkit.User(t, pool, "alice@example.com")
	_, bob := testkit.User(t, pool, "bob@example.com")
	return fixture{pool: pool, server: srv, alice: alice, bob: bob}
}

type envelope struct {
	Error struct {
		Code    string              `json:"code"`
		Message string              `json:"message"`
		Fields  map[string][]string `json:"fields"`
	} `json:"error"`
}

type page struct {
	Items      []contacts.Contact `json:"items"`
	NextCursor *string            `json:"nextCursor"`
}

func create(t *testing.T, tr testkit.Transport, s *api.Server, token string, body any) contacts.Contact {
	t.Helper()
	res := tr.Do(t, testkit.Request("POST", "/v1/contacts", token, body))
	var c contacts.Contact
	raw := testkit.ReadJSON(t, res, &c)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create: status %d: %s", res.StatusCode, raw)
	}
	return c
}

func TestContactLifecycle(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, tr := range testkit.Transports(f.server) {
		t.Run(tr.Name, func(t *testing.T) {
			email := tr.Name + "-grace@example.com"
			c := create(t, tr, f.server, f.alice, map[string]any{"name": "  Grace Hopper ", "email": email, "company": "Navy"})
			if c.Name == nil || *c.Name != "Grace Hopper" || c.Email == nil || *c.Email != email || c.ID == uuid.Nil {
				t.Fatalf("created %+v", c)
			}

			res := tr.Do(t, testkit.Request("GET", "/v1/contacts/"+c.ID.String(), f.alice, nil))
			var got contacts.Contact
			testkit.ReadJSON(t, res, &got)
			if res.StatusCode != 200 {
				t.Fatalf("get: %d", res.StatusCode)
			}
			if d := cmp.Diff(c, got); d != "" {
				t.Fatalf("get differs from create (-create +get):\n%s", d)
			}
			if res.Header.Get("Content-Type") != "application/json" || res.Header.Get("X-Request-Id") == "" {
				t.Errorf("headers: %v", res.Header)
			}

			// Partial update: absent stays, null clears, a value sets.
			res = tr.Do(t, testkit.Request("PATCH", "/v1/contacts/"+c.ID.String(), f.alice, `{"company": null, "jobTitle": "Rear Admiral"}`))
			var upd contacts.Contact
			raw := testkit.ReadJSON(t, res, &upd)
			if res.StatusCode != 200 || upd.Company != nil || upd.JobTitle == nil || *upd.JobTitle != "Rear Admiral" || *upd.Name != "Grace Hopper" {
				t.Fatalf("update: %d %s", res.StatusCode, raw)
			}
			if !upd.UpdatedAt.After(c.UpdatedAt) && !upd.UpdatedAt.Equal(c.UpdatedAt) {
				t.Errorf("updatedAt went back")
			}

			// The same address in another case is a conflict.
			res = tr.Do(t, testkit.Request("POST", "/v1/contacts", f.alice, map[string]any{"email": strings.ToUpper(email)}))
			var env envelope
			testkit.ReadJSON(t, res, &env)
			if res.StatusCode != http.StatusConflict || env.Error.Code != "CONFLICT" {
				t.Fatalf("duplicate email: %d %+v", res.StatusCode, env)
			}

			res = tr.Do(t, testkit.Request("DELETE", "/v1/contacts/"+c.ID.String(), f.alice, nil))
			body := testkit.ReadJSON(t, res, nil)
			if res.StatusCode != http.StatusNoContent || len(body) != 0 {
				t.Fatalf("delete: %d %q", res.StatusCode, body)
			}
			res = tr.Do(t, testkit.Request("GET", "/v1/contacts/"+c.ID.String(), f.alice, nil))
			testkit.ReadJSON(t, res, &env)
			if res.StatusCode != http.StatusNotFound || env.Error.Code != "NOT_FOUND" {
				t.Fatalf("get after delete: %d %+v", res.StatusCode, env)
			}
		})
	}
}

func TestListSearchAndPages(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tr := testkit.Transports(f.server)
	names := []string{"Zed Alpha", "amy Beta", "Bob Gamma", "carl 100%_done", "Dora Delta", "eve"}
	for i, n := range names {
		create(t, tr[0], f.server, f.alice, map[string]any{"name": n, "email": fmt.Sprintf("p%d@example.com", i), "company": "Acme " + string(rune('A'+i))})
	}
	create(t, tr[0], f.server, f.bob, map[string]any{"name": "Bob's own", "email": "own@example.com"})

	for _, tr := range tr {
		t.Run(tr.Name, func(t *testing.T) {
			// Walk every page of two.
			var seen []string
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatal("pagination does not end")
				}
				target := "/v1/contacts?limit=2"
				if cursor != "" {
					target += "&cursor=" + url.QueryEscape(cursor)
				}
				res := tr.Do(t, testkit.Request("GET", target, f.alice, nil))
				var p page
				raw := testkit.ReadJSON(t, res, &p)
				if res.StatusCode != 200 || len(p.Items) > 2 {
					t.Fatalf("list: %d %s", res.StatusCode, raw)
				}
				for _, c := range p.Items {
					seen = append(seen, *c.Name)
				}
				if p.NextCursor == nil {
					break
				}
				cursor = *p.NextCursor
			}
			want := []string{"amy Beta", "Bob Gamma", "carl 100%_done", "Dora Delta", "eve", "Zed Alpha"}
			if d := cmp.Diff(want, seen); d != "" {
				t.Fatalf("pages in name order (-want +got):\n%s", d)
			}

			for q, want := range map[string][]string{
				"ALPHA":     {"Zed Alpha"},
				"acme c":    {"Bob Gamma"},
				"p4@":       {"Dora Delta"},
				"100%":      {"carl 100%_done"},
				"_":         {"carl 100%_done"},
				"nobody":    nil,
				"Bob's own": nil, // another user's contact
			} {
				res := tr.Do(t, testkit.Request("GET", "/v1/contacts?q="+url.QueryEscape(q), f.alice, nil))
				var p page
				testkit.ReadJSON(t, res, &p)
				var got []string
				for _, c := range p.Items {
					got = append(got, *c.Name)
				}
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("q=%q (-want +got):\n%s", q, d)
				}
			}
		})
	}
}

// TestBadInput sends each kind of bad request and checks the status, the
// envelope and that nothing changed.
func TestBadInput(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tr := testkit.Transports(f.server)
	existing := create(t, tr[0], f.server, f.alice, map[string]any{"name": "Existing", "email": "existing@example.com"})
	id := existing.ID.String()
	big := `{"name": "` + strings.Repeat("x", api.DefaultMaxBody) + `"}`
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	nameCursor := api.EncodeCursor(contact.Cursor{Sort: contact.SortName, SortKey: "existing", ID: existing.ID})
	descCursor := api.EncodeCursor(contact.Cursor{Sort: contact.SortLastInteraction, At: &when, ID: existing.ID})

	tests := []struct {
		name        string
		method      string
		target      string
		body        string
		contentType string
		status      int
		code        string
		fields      []string
	}{
		{"malformed json", "POST", "/v1/contacts", `{"name": `, "", 400, "VALIDATION_ERROR", []string{"body"}},
		{"not an object", "POST", "/v1/contacts", `["a"]`, "", 400, "VALIDATION_ERROR", []string{"body"}},
		{"wrong types", "POST", "/v1/contacts", `{"name": 5, "email": true}`, "", 400, "VALIDATION_ERROR", []string{"name", "email"}},
		{"bad email", "POST", "/v1/contacts", `{"email": "not-an-email"}`, "", 400, "VALIDATION_ERROR", []string{"email"}},
		{"missing name and email", "POST", "/v1/contacts", `{"company": "Acme"}`, "", 400, "VALIDATION_ERROR", []string{"name"}},
		{"unknown field", "POST", "/v1/contacts", `{"name": "x", "admin": true}`, "", 400, "VALIDATION_ERROR", []string{"admin"}},
		{"too long", "POST", "/v1/contacts", `{"name": "` + strings.Repeat("n", 201) + `"}`, "", 400, "VALIDATION_ERROR", []string{"name"}},
		{"oversized body", "POST", "/v1/contacts", big, "", 413, "PAYLOAD_TOO_LARGE", nil},
		{"wrong content type", "POST", "/v1/contacts", `name=x`, "application/x-www-form-urlencoded", 415, "UNSUPPORTED_MEDIA_TYPE", nil},
		{"invalid uuid get", "GET", "/v1/contacts/not-a-uuid", "", "", 400, "VALIDATION_ERROR", []string{"id"}},
		{"invalid uuid patch", "PATCH", "/v1/contacts/1234", `{"name": "y"}`, "", 400, "VALIDATION_ERROR", []string{"id"}},
		{"invalid uuid delete", "DELETE", "/v1/contacts/zzz", "", "", 400, "VALIDATION_ERROR", []string{"id"}},
		{"patch clears both name and email", "PATCH", "/v1/contacts/" + id, `{"name": null, "email": null}`, "", 400, "VALIDATION_ERROR", []string{"name"}},
		{"patch wrong type", "PATCH", "/v1/contacts/" + id, `{"notes": 7}`, "", 400, "VALIDATION_ERROR", []string{"notes"}},
		{"invalid cursor", "GET", "/v1/contacts?cursor=not*base64!", "", "", 400, "VALIDATION_ERROR", []string{"cursor"}},
		{"forged cursor", "GET", "/v1/contacts?cursor=" + api.EncodeCursor(map[string]any{"x": 1}), "", "", 400, "VALIDATION_ERROR", []string{"cursor"}},
		{"limit zero", "GET", "/v1/contacts?limit=0", "", "", 400, "VALIDATION_ERROR", []string{"limit"}},
		{"limit too big", "GET", "/v1/contacts?limit=101", "", "", 400, "VALIDATION_ERROR", []string{"limit"}},
		{"limit not a number", "GET", "/v1/contacts?limit=ten", "", "", 400, "VALIDATION_ERROR", []string{"limit"}},
		{"unknown sort", "GET", "/v1/contacts?sort=age", "", "", 400, "VALIDATION_ERROR", []string{"sort"}},
		{"quiet for zero days", "GET", "/v1/contacts?quietFor=0", "", "", 400, "VALIDATION_ERROR", []string{"quietFor"}},
		{"quiet for too long", "GET", "/v1/contacts?quietFor=3651", "", "", 400, "VALIDATION_ERROR", []string{"quietFor"}},
		{"quiet for not a number", "GET", "/v1/contacts?quietFor=ten", "", "", 400, "VALIDATION_ERROR", []string{"quietFor"}},
		{"bad sort and quiet for", "GET", "/v1/contacts?sort=x&quietFor=-1", "", "", 400, "VALIDATION_ERROR", []string{"sort", "quietFor"}},
		{"name cursor by last interaction", "GET", "/v1/contacts?sort=lastInteraction&cursor=" + nameCursor, "", "", 400, "VALIDATION_ERROR", []string{"cursor"}},
		{"descending cursor ascending", "GET", "/v1/contacts?sort=lastInteractionAsc&cursor=" + descCursor, "", "", 400, "VALIDATION_ERROR", []string{"cursor"}},
		{"last interaction cursor by name", "GET", "/v1/contacts?cursor=" + descCursor, "", "", 400, "VALIDATION_ERROR", []string{"cursor"}},
		{"quiet for with a name cursor", "GET", "/v1/contacts?quietFor=30&cursor=" + nameCursor, "", "", 400, "VALIDATION_ERROR", []string{"cursor"}},
		{"last interaction cursor without time", "GET", "/v1/contacts?sort=lastInteraction&cursor=" + api.EncodeCursor(contact.Cursor{Sort: contact.SortLastInteraction, ID: existing.ID}), "", "", 400, "VALIDATION_ERROR", []string{"cursor"}},
		{"invalid uuid timeline", "GET", "/v1/contacts/nope/timeline", "", "", 400, "VALIDATION_ERROR", []string{"id"}},
		{"timeline forged cursor", "GET", "/v1/contacts/" + id + "/timeline?cursor=" + api.EncodeCursor(map[string]any{"x": 1}), "", "", 400, "VALIDATION_ERROR", []string{"cursor"}},
		{"timeline limit too big", "GET", "/v1/contacts/" + id + "/timeline?limit=101", "", "", 400, "VALIDATION_ERROR", []string{"limit"}},
	}
	before := snapshot(t, f.pool)
	for _, tr := range tr {
		for _, tt := range tests {
			t.Run(tr.Name+"/"+tt.name, func(t *testing.T) {
				r := testkit.Request(tt.method, tt.target, f.alice, nil)
				if tt.body != "" {
					r = testkit.Request(tt.method, tt.target, f.alice, tt.body)
				}
				if tt.contentType != "" {
					r.Header.Set("Content-Type", tt.contentType)
				}
				res := tr.Do(t, r)
				var env envelope
				raw := testkit.ReadJSON(t, res, &env)
				if res.StatusCode != tt.status || env.Error.Code != tt.code {
					t.Fatalf("got %d %s, want %d %s", res.StatusCode, raw, tt.status, tt.code)
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
	if d := cmp.Diff(before, snapshot(t, f.pool)); d != "" {
		t.Fatalf("bad input changed data (-before +after):\n%s", d)
	}
}

// TestIsolation checks that every route answers 404 for another user's
// contact and leaves it as it was.
func TestIsolation(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tr := testkit.Transports(f.server)
	alices := create(t, tr[0], f.server, f.alice, map[string]any{"name": "Alice's friend", "email": "friend@example.com", "notes": "private"})
	id := alices.ID.String()
	before := snapshot(t, f.pool)
	for _, tr := range tr {
		for _, r := range []*http.Request{
			testkit.Request("GET", "/v1/contacts/"+id, f.bob, nil),
			testkit.Request("PATCH", "/v1/contacts/"+id, f.bob, `{"notes": "mine now"}`),
			testkit.Request("DELETE", "/v1/contacts/"+id, f.bob, nil),
			testkit.Request("GET", "/v1/contacts/"+id+"/timeline", f.bob, nil),
		} {
			t.Run(tr.Name+"/"+r.Method+" "+path.Base(r.URL.Path), func(t *testing.T) {
				res := tr.Do(t, r)
				var env envelope
				raw := testkit.ReadJSON(t, res, &env)
				if res.StatusCode != http.StatusNotFound || env.Error.Code != "NOT_FOUND" || strings.Contains(string(raw), "private") {
					t.Fatalf("got %d %s", res.StatusCode, raw)
				}
			})
		}
		t.Run(tr.Name+"/list", func(t *testing.T) {
			res := tr.Do(t, testkit.Request("GET", "/v1/contacts?q=alice", f.bob, nil))
			var p page
			testkit.ReadJSON(t, res, &p)
			if res.StatusCode != 200 || len(p.Items) != 0 {
				t.Fatalf("bob lists %d of alice's contacts", len(p.Items))
			}
		})
		t.Run(tr.Name+"/create same email", func(t *testing.T) {
			// Uniqueness is per user: bob may have the same address.
			res := tr.Do(t, testkit.Request("POST", "/v1/contacts", f.bob, map[string]any{"email": tr.Name + "friend@example.com"}))
			testkit.ReadJSON(t, res, nil)
			if res.StatusCode != http.StatusCreated {
				t.Fatalf("got %d", res.StatusCode)
			}
		})
	}
	after := snapshot(t, f.pool)
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("alice's contact changed: %s", cmp.Diff(v, after[k]))
		}
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, tr := range testkit.Transports(f.server) {
		for name, mod := range map[string]func(*http.Request){
			"no credentials": func(r *http.Request) { r.Header.Del("Authorization") },
			"unknown token":  func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+auth.NewToken()) },
			"malformed":      func(r *http.Request) { r.Header.Set("Authorization", "Basic abc") },
			"tampered cookie": func(r *http.Request) {
				r.Header.Del("Authorization")
				r.Header.Set("Cookie", "crm_session="+f.alice+"x")
			},
		} {
			t.Run(tr.Name+"/"+name, func(t *testing.T) {
				r := testkit.Request("GET", "/v1/contacts", f.alice, nil)
				mod(r)
				res := tr.Do(t, r)
				var env envelope
				testkit.ReadJSON(t, res, &env)
				if res.StatusCode != http.StatusUnauthorized || env.Error.Code != "AUTHENTICATION_ERROR" {
					t.Fatalf("got %d %+v", res.StatusCode, env)
				}
			})
		}
		t.Run(tr.Name+"/cookie", func(t *testing.T) {
			r := testkit.Request("GET", "/v1/contacts", "", nil)
			r.Header.Set("Cookie", "other=1; crm_session="+f.alice)
			res := tr.Do(t, r)
			testkit.ReadJSON(t, res, nil)
			if res.StatusCode != 200 {
				t.Fatalf("cookie session refused: %d", res.StatusCode)
			}
		})
	}
}

// snapshot is every contact row as text, by id.
func snapshot(t *testing.T, pool *db.Pool) map[string]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), "select id::text, row_to_json(c)::text from contacts c")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, row string
		if err := rows.Scan(&id, &row); err != nil {
			t.Fatal(err)
		}
		out[id] = row
	}
	return out
}
