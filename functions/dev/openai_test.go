package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/feature"
	"github.com/personalcrm/core/shared/testkit"
)

// TestSandboxOpenAI: without OPENAI_API_KEY the local server serves a
// sandbox OpenAI, and an analysis asked through the API is answered by it
// and listed.
func TestSandboxOpenAI(t *testing.T) {
	t.Parallel()
	s, base, _ := devServer(t)
	if s.openAI == nil {
		t.Fatal("no sandbox OpenAI without OPENAI_API_KEY")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.jobs.start(ctx)
	defer s.jobs.wait()
	defer cancel()

	user, token := testkit.User(t, s.pool, "lin@example.com")
	if _, err := feature.NewSettings(s.pool).WithCache(s.cache).Set(ctx, user, feature.AIAgents, true); err != nil {
		t.Fatal(err)
	}
	c, err := contact.NewService(s.pool).Create(ctx, user, contact.Fields{Email: ptr("ada@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	e, err := email.NewService(s.pool).Create(ctx, user, email.Fields{Subject: "Engine drawings", From: "ada@example.com", SentAt: &sent})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := contact.NewService(s.pool).RecordInteraction(ctx, user, contact.Interaction{EmailID: e.ID, At: sent,
		Participants: []contact.Participant{{Email: "ada@example.com", Role: "from"}}}); err != nil {
		t.Fatal(err)
	}

	do := func(method, path string, body any, out any) int {
		t.Helper()
		r := testkit.Request(method, base+path, token, body)
		r.RequestURI = "" // a client request
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		json.NewDecoder(res.Body).Decode(out)
		return res.StatusCode
	}
	var job struct{ ID, State string }
	if code := do("POST", "/v1/ai/analyze", map[string]any{"type": "contact-summary", "contactId": c.ID.String()}, &job); code != http.StatusAccepted {
		t.Fatalf("analyze: %d", code)
	}
	for deadline := time.Now().Add(30 * time.Second); job.State != "succeeded"; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) || job.State == "dead" {
			t.Fatalf("job %+v", job)
		}
		do("GET", "/v1/jobs/"+job.ID, nil, &job)
	}
	var page struct {
		Items []struct {
			Content map[string]any `json:"content"`
		} `json:"items"`
	}
	if code := do("GET", "/v1/ai/insights?contactId="+c.ID.String(), nil, &page); code != http.StatusOK || len(page.Items) != 1 ||
		!strings.Contains(page.Items[0].Content["summary"].(string), "Engine drawings") {
		t.Fatalf("insights: %d %+v", code, page)
	}
	if n := len(s.openAI.Requests()); n != 1 {
		t.Fatalf("%d requests to the sandbox", n)
	}
}

func ptr(s string) *string { return &s }
