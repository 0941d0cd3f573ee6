package ai_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/personalcrm/core/functions/routes/ai"
	"github.com/personalcrm/core/functions/routes/jobs"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/domain/insight"
	"github.com/personalcrm/core/shared/feature"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/ratelimit"
	"github.com/personalcrm/core/shared/testkit"
)

type fixture struct {
	pool     *db.Pool
	server   *api.Server
	insights *insight.Service
	// alice and bob have the ai-agents feature, carol has not; each has a
	// contact.
	alice, bob, carol                uuid.UUID
	aliceToken, bobToken, carolToken string
	aliceAda, bobAda                 uuid.UUID
}

func setup(t *testing.T) fixture {
	t.Helper()
	f := fixture{pool: testkit.DB(t)}
	f.insights = insight.NewService(f.pool, queue.New(f.pool, queue.NewMemory(queue.MemoryOptions{}), nil))
	f.server = f.serve(nil)
	f.alice, f.aliceToken, f.aliceAda = f.user(t, "alice", true)
	f.bob, f.bobToken, f.bobAda = f.user(t, "bob", true)
	f.carol, f.carolToken, _ = f.user(t, "carol", false)
	return f
}

// serve serves the routes, rate limited by limiter (nil: not limited).
func (f fixture) serve(limiter api.RateLimiter) *api.Server {
	return api.NewServer(api.Options{
		Sessions: auth.NewSessions(f.pool), Features: feature.Gates{feature.AIAgents: true}, Limiter: limiter,
	}, ai.Analyze(f.insights), ai.List(f.insights))
}

// user makes a user, with the ai-agents feature or not, and a contact
// ada@example.com.
func (f fixture) user(t *testing.T, name string, aiOn bool) (uuid.UUID, string, uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	id, token := testkit.User(t, f.pool, name+"@example.com")
	if _, err := feature.NewSettings(f.pool).Set(ctx, id, feature.AIAgents, aiOn); err != nil {
		t.Fatal(err)
	}
	email := "ada@example.com"
	c, err := contact.NewService(f.pool).Create(ctx, id, contact.Fields{Email: &email})
	if err != nil {
		t.Fatal(err)
	}
	return id, token, c.ID
}

type envelope struct {
	Error struct {
		Code    string              `json:"code"`
		Message string              `json:"message"`
		Fields  map[string][]string `json:"fields"`
	} `json:"error"`
}

func (f fixture) jobCount(t *testing.T) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), `select count(*) from jobs`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAnalyze(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	for _, tr := range testkit.Transports(f.server) {
		t.Run(tr.Name, func(t *testing.T) {
			analyze := func(token string, body any) (int, []byte, jobs.Job) {
				res := tr.Do(t, testkit.Request("POST", "/v1/ai/analyze", token, body))
				var j jobs.Job
				raw := testkit.ReadJSON(t, res, &j)
				return res.StatusCode, raw, j
			}
			body := map[string]any{"type": "contact-summary", "contactId": f.aliceAda.String(), "data": map[string]any{"emails": 10}}
			status, raw, first := analyze(f.aliceToken, body)
			if status != http.StatusAccepted || first.Type != catalog.AIAnalysis || first.ID == uuid.Nil ||
				(first.State != "pending" && first.State != "sent") {
				t.Fatalf("analyze: %d %s", status, raw)
			}
			// While it waits, the same analysis answers the same job.
			if status, raw, again := analyze(f.aliceToken, body); status != http.StatusAccepted || again.ID != first.ID {
				t.Fatalf("second analyze: %d %s, want job %s", status, raw, first.ID)
			}
			j, err := queue.Get(ctx, f.pool, f.alice, first.ID)
			if err != nil {
				t.Fatal(err)
			}
			if j.Kind != catalog.AIAnalysis {
				t.Fatalf("job of kind %s", j.Kind)
			}
			got, err := queue.Decode[insight.AnalysisJob](j.Payload)
			if err != nil {
				t.Fatal(err)
			}
			var data map[string]any
			if err := json.Unmarshal(got.Data, &data); err != nil {
				t.Fatalf("payload data %s: %v", got.Data, err)
			}
			if got.UserID != f.alice {
				t.Fatalf("payload user %v, want %v", got.UserID, f.alice)
			}
			if got.Type != insight.ContactSummary {
				t.Fatalf("payload type %q, want %q", got.Type, insight.ContactSummary)
			}
			if d := cmp.Diff(map[string]any{"contactId": f.aliceAda.String(), "emails": 10.0}, data); d != "" {
				t.Fatalf("payload data (-want +got):\n%s", d)
			}
			if _, err := f.pool.Exec(ctx, `update jobs set state = 'succeeded', finished_at = now() where user_id = $1`, f.alice); err != nil {
				t.Fatal(err)
			}

			// Another user's contact is not found; a user without the
			// feature is refused.
			before := f.jobCount(t)
			for name, c := range map[string]struct {
				token  string
				body   any
				status int
				code   string
			}{
				"another user's contact": {f.aliceToken, map[string]any{"type": "contact-summary", "contactId": f.bobAda.String()}, http.StatusNotFound, "NOT_FOUND"},
				"unknown contact":        {f.aliceToken, map[string]any{"type": "contact-summary", "contactId": uuid.NewString()}, http.StatusNotFound, "NOT_FOUND"},
				"feature off":            {f.carolToken, map[string]any{"type": "contact-summary", "contactId": f.aliceAda.String()}, http.StatusForbidden, "FORBIDDEN"},
			} {
				res := tr.Do(t, testkit.Request("POST", "/v1/ai/analyze", c.token, c.body))
				var env envelope
				raw := testkit.ReadJSON(t, res, &env)
				if res.StatusCode != c.status || env.Error.Code != c.code {
					t.Errorf("%s: %d %s", name, res.StatusCode, raw)
				}
				if c.code == "FORBIDDEN" && env.Error.Message != "AI analysis is not enabled for this account" {
					t.Errorf("%s: message %q", name, env.Error.Message)
				}
			}
			if n := f.jobCount(t); n != before {
				t.Fatalf("refused requests enqueued %d jobs", n-before)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ada := f.aliceAda.String()
	for _, tt := range []struct {
		name, method, target, body string
		fields                     []string
	}{
		{"unknown type", "POST", "/v1/ai/analyze", `{"type": "horoscope", "contactId": "` + ada + `"}`, []string{"type"}},
		{"no type", "POST", "/v1/ai/analyze", `{"contactId": "` + ada + `"}`, []string{"type"}},
		{"missing contactId", "POST", "/v1/ai/analyze", `{"type": "contact-summary"}`, []string{"contactId"}},
		{"bad contactId", "POST", "/v1/ai/analyze", `{"type": "contact-summary", "contactId": "ada"}`, []string{"contactId"}},
		{"too many emails", "POST", "/v1/ai/analyze", `{"type": "contact-summary", "contactId": "` + ada + `", "data": {"emails": 51}}`, []string{"data.emails"}},
		{"unknown option", "POST", "/v1/ai/analyze", `{"type": "contact-summary", "contactId": "` + ada + `", "data": {"tone": "kind"}}`, []string{"data.tone"}},
		{"data not an object", "POST", "/v1/ai/analyze", `{"type": "contact-summary", "contactId": "` + ada + `", "data": [1]}`, []string{"data"}},
		{"unknown field", "POST", "/v1/ai/analyze", `{"type": "contact-summary", "contactId": "` + ada + `", "everything": true}`, []string{"everything"}},
		{"list bad contactId", "GET", "/v1/ai/insights?contactId=12", "", []string{"contactId"}},
		{"list limit too big", "GET", "/v1/ai/insights?limit=101", "", []string{"limit"}},
		{"list forged cursor", "GET", "/v1/ai/insights?cursor=" + api.EncodeCursor(map[string]any{"x": 1}), "", []string{"cursor"}},
	} {
		for _, tr := range testkit.Transports(f.server) {
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
	if n := f.jobCount(t); n != 0 {
		t.Fatalf("bad input enqueued %d jobs", n)
	}
}

// TestAnalyzeRateLimited: each user may ask for a few analyses at once,
// then must wait.
func TestAnalyzeRateLimited(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tr := testkit.Transports(f.serve(ratelimit.New(cache.New(cache.NewMemory(0), cache.Options{}), nil, nil)))[0]
	limit := catalog.MustLookup(catalog.AIAnalyze).Limit
	body := map[string]any{"type": "contact-summary", "contactId": f.bobAda.String()}
	for i := 1; i <= limit.Burst; i++ {
		res := tr.Do(t, testkit.Request("POST", "/v1/ai/analyze", f.bobToken, body))
		if raw := testkit.ReadJSON(t, res, nil); res.StatusCode != http.StatusAccepted {
			t.Fatalf("request %d: %d %s", i, res.StatusCode, raw)
		}
	}
	res := tr.Do(t, testkit.Request("POST", "/v1/ai/analyze", f.bobToken, body))
	var env envelope
	if raw := testkit.ReadJSON(t, res, &env); res.StatusCode != http.StatusTooManyRequests || env.Error.Code != api.CodeRateLimit {
		t.Fatalf("request %d: %d %s", limit.Burst+1, res.StatusCode, raw)
	}
}

type page struct {
	Items      []ai.Insight `json:"items"`
	NextCursor *string      `json:"nextCursor"`
}

func TestList(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	other, err := contact.NewService(f.pool).Create(ctx, f.alice, contact.Fields{Email: ptr("grace@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	// Seven insights of Alice's, an hour apart, every other about Ada,
	// and one of Bob's about his Ada.
	store := func(user uuid.UUID, contactID *uuid.UUID, i int) {
		t.Helper()
		in, _, err := f.insights.Save(ctx, insight.Insight{UserID: user, ContactID: contactID, Type: insight.ContactSummary,
			JobID: uuid.New(), Model: "gpt-4o-mini", Content: json.RawMessage(fmt.Sprintf(`{"summary": "insight %d", "topics": [], "relationship": "x"}`, i))})
		if err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 1, 1, i, 0, 0, 0, time.UTC)
		if _, err := f.pool.Exec(ctx, `update ai_insights set created_at = $2 where id = $1`, in.ID, at); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 7 {
		c := &other.ID
		if i%2 == 0 {
			c = &f.aliceAda
		}
		store(f.alice, c, i)
	}
	store(f.bob, &f.bobAda, 9)

	summaries := func(p page) []string {
		var out []string
		for _, in := range p.Items {
			out = append(out, in.Content["summary"].(string))
		}
		return out
	}
	for _, tr := range testkit.Transports(f.server) {
		t.Run(tr.Name, func(t *testing.T) {
			list := func(token, query string) page {
				t.Helper()
				res := tr.Do(t, testkit.Request("GET", "/v1/ai/insights?"+query, token, nil))
				var p page
				if raw := testkit.ReadJSON(t, res, &p); res.StatusCode != http.StatusOK {
					t.Fatalf("list %s: %d %s", query, res.StatusCode, raw)
				}
				return p
			}
			var seen []string
			query := "limit=3"
			for pages := 0; ; pages++ {
				if pages > 5 {
					t.Fatal("pagination does not end")
				}
				p := list(f.aliceToken, query)
				seen = append(seen, summaries(p)...)
				if p.NextCursor == nil {
					break
				}
				query = "limit=3&cursor=" + url.QueryEscape(*p.NextCursor)
			}
			want := []string{"insight 6", "insight 5", "insight 4", "insight 3", "insight 2", "insight 1", "insight 0"}
			if d := cmp.Diff(want, seen); d != "" {
				t.Fatalf("pages (-want +got):\n%s", d)
			}
			p := list(f.aliceToken, "limit=2&contactId="+f.aliceAda.String())
			if d := cmp.Diff([]string{"insight 6", "insight 4"}, summaries(p)); d != "" || p.NextCursor == nil {
				t.Fatalf("by contact (-want +got):\n%s", d)
			}
			p = list(f.aliceToken, "limit=2&contactId="+f.aliceAda.String()+"&cursor="+url.QueryEscape(*p.NextCursor))
			if d := cmp.Diff([]string{"insight 2", "insight 0"}, summaries(p)); d != "" {
				t.Fatalf("by contact, page 2 (-want +got):\n%s", d)
			}
			first := p.Items[0]
			if first.Type != insight.ContactSummary || first.ContactID == nil || *first.ContactID != f.aliceAda ||
				first.Model != "gpt-4o-mini" || !first.AIGenerated || first.JobID == uuid.Nil || !first.CreatedAt.Equal(time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)) {
				t.Fatalf("insight %+v", first)
			}
			if got := summaries(list(f.bobToken, "")); !cmp.Equal(got, []string{"insight 9"}) {
				t.Fatalf("bob lists %v", got)
			}
			// Another user's contact is not found; insights stay readable
			// without the feature.
			res := tr.Do(t, testkit.Request("GET", "/v1/ai/insights?contactId="+f.bobAda.String(), f.aliceToken, nil))
			var env envelope
			if raw := testkit.ReadJSON(t, res, &env); res.StatusCode != http.StatusNotFound || env.Error.Code != "NOT_FOUND" {
				t.Fatalf("another user's contact: %d %s", res.StatusCode, raw)
			}
			if p := list(f.carolToken, ""); len(p.Items) != 0 || p.NextCursor != nil {
				t.Fatalf("carol lists %+v", p)
			}
		})
	}
}

func ptr(s string) *string { return &s }
