package insight_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/domain/insight"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/testkit"
)

func TestParse(t *testing.T) {
	id := uuid.New()
	for _, tt := range []struct {
		name    string
		typ     string
		contact *uuid.UUID
		data    string
		fields  []string
		emails  int
	}{
		{name: "contact summary", typ: "contact-summary", contact: &id},
		{name: "with emails", typ: "contact-summary", contact: &id, data: `{"emails": 5}`, emails: 5},
		{name: "null data", typ: "contact-summary", contact: &id, data: `null`},
		{name: "unknown type", typ: "horoscope", contact: &id, fields: []string{"type"}},
		{name: "no contact", typ: "contact-summary", fields: []string{"contactId"}},
		{name: "too many emails", typ: "contact-summary", contact: &id, data: `{"emails": 51}`, fields: []string{"data.emails"}},
		{name: "negative emails", typ: "contact-summary", contact: &id, data: `{"emails": -1}`, fields: []string{"data.emails"}},
		{name: "emails not a number", typ: "contact-summary", contact: &id, data: `{"emails": "all"}`, fields: []string{"data.emails"}},
		{name: "unknown option", typ: "contact-summary", contact: &id, data: `{"contactId": "x"}`, fields: []string{"data.contactId"}},
		{name: "data not an object", typ: "contact-summary", contact: &id, data: `[]`, fields: []string{"data"}},
		{name: "everything wrong", typ: "", data: `{"x": 1}`, fields: []string{"type", "data.x"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			typ, in, err := insight.Parse(tt.typ, tt.contact, json.RawMessage(tt.data))
			if len(tt.fields) > 0 {
				e, ok := errs.As(err)
				if !ok || e.Kind != errs.KindInvalid {
					t.Fatalf("error %v, want Invalid", err)
				}
				var got []string
				for f := range e.Fields {
					got = append(got, f)
				}
				if d := cmp.Diff(tt.fields, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); d != "" {
					t.Fatalf("fields (-want +got):\n%s", d)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if typ.Name != tt.typ {
				t.Fatalf("type %q, want %q", typ.Name, tt.typ)
			}
			if in.Emails != tt.emails {
				t.Fatalf("emails %v, want %v", in.Emails, tt.emails)
			}
			if *in.ContactID != id {
				t.Fatalf("contact %v, want %v", *in.ContactID, id)
			}
			// What the route accepts, the job reads back the same.
			typ2, in2, err := insight.Decode(typ.Name, in.Data())
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if typ2.Name != typ.Name {
				t.Fatalf("decoded type %q, want %q", typ2.Name, typ.Name)
			}
			if d := cmp.Diff(in, in2); d != "" {
				t.Fatalf("decoded input (-want +got):\n%s", d)
			}
		})
	}
	if _, _, err := insight.Decode("contact-summary", json.RawMessage(`{"contactId": "`+id.String()+`", "tone": "kind"}`)); !errs.Is(err, errs.KindInvalid) {
		t.Fatalf("job data with an unknown option: %v", err)
	}
}

func TestCheckSummary(t *testing.T) {
	typ, _ := insight.Lookup(insight.ContactSummary)
	long := strings.Repeat("word ", 1000)
	for _, tt := range []struct {
		name, answer string
		want         *insight.Summary
	}{
		{"complete", `{"summary": " Ada  builds engines. ", "topics": ["engines", " ", "math"], "relationship": "colleague", "suggestedFollowUp": "Ask about the engine."}`,
			&insight.Summary{Summary: "Ada builds engines.", Topics: []string{"engines", "math"}, Relationship: "colleague", SuggestedFollowUp: "Ask about the engine."}},
		{"no follow-up, extra keys", `{"summary": "s", "topics": [], "relationship": "r", "mood": "fine"}`,
			&insight.Summary{Summary: "s", Topics: []string{}, Relationship: "r"}},
		{"links and payment details removed", `{"summary": "Pay at https://evil.example/x?a=b or www.evil.com, or evil.example/pay; IBAN GB82 WEST 1234 5698 7654 32, card 4111-1111-1111-1111.", "topics": ["mail billing@evil.example", "see evil.com", "0x52908400098527886E0F7030069857D2E4169EE7"], "relationship": "javascript:alert(1)", "suggestedFollowUp": "Send 12345678 to bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"}`,
			&insight.Summary{Summary: "Pay at [link removed] or [link removed] or [link removed] IBAN [payment details removed], card [payment details removed].",
				Topics: []string{"mail [link removed]", "see [link removed]", "[payment details removed]"}, Relationship: "[link removed]",
				SuggestedFollowUp: "Send [payment details removed] to [payment details removed]"}},
		{"plain text kept", `{"summary": "Met on 2026-01-15 about Q3 2026 plans, e.g. the budget of 1,200 EUR; she uses Node.js.", "topics": ["v2.1 release"], "relationship": "colleague"}`,
			&insight.Summary{Summary: "Met on 2026-01-15 about Q3 2026 plans, e.g. the budget of 1,200 EUR; she uses Node.js.", Topics: []string{"v2.1 release"}, Relationship: "colleague"}},
		{"no summary", `{"topics": [], "relationship": "r"}`, nil},
		{"no topics", `{"summary": "s", "relationship": "r"}`, nil},
		{"topics not strings", `{"summary": "s", "topics": [1], "relationship": "r"}`, nil},
		{"not JSON", `Ada is a colleague.`, nil},
		{"an array", `[{"summary": "s"}]`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			content, err := typ.Check(tt.answer)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("accepted: %s", content)
				}
				if strings.Contains(err.Error(), "Ada") || strings.Contains(err.Error(), `"s"`) {
					t.Fatalf("the error quotes the answer: %v", err)
				}
				return
			}
			var got insight.Summary
			if err != nil {
				t.Fatalf("check: %v", err)
			}
			if err := json.Unmarshal(content, &got); err != nil {
				t.Fatalf("checked content %s: %v", content, err)
			}
			if d := cmp.Diff(*tt.want, got); d != "" {
				t.Fatalf("content (-want +got):\n%s", d)
			}
		})
	}
	// Long answers are bounded.
	content, err := typ.Check(`{"summary": "` + long + `", "topics": ["` + strings.Repeat(`t", "`, 20) + `t"], "relationship": "r"}`)
	var got insight.Summary
	if err != nil {
		t.Fatalf("check of a long answer: %v", err)
	}
	if err := json.Unmarshal(content, &got); err != nil {
		t.Fatalf("checked content %s: %v", content, err)
	}
	if n := len([]rune(got.Summary)); n > 2000 {
		t.Fatalf("summary of %d characters, want at most 2000", n)
	}
	if len(got.Topics) != 10 {
		t.Fatalf("%d topics, want 10", len(got.Topics))
	}
}

// TestNoCostlyInit: the package compiles its patterns on first use, not
// at init, which every function that links it would pay at cold start.
func TestNoCostlyInit(t *testing.T) {
	const pkg = "github.com/personalcrm/core/shared/domain/insight"
	if n := testkit.InitBytes(t, pkg); n > 16<<10 {
		t.Errorf("%s allocates %d bytes at init", pkg, n)
	}
}
