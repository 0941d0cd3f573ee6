package api_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/testkit"
)

// note is answered by one route and read by another.
type note struct {
	Title string `json:"title" minLength:"2" maxLength:"5"`
}

type noteOut struct{ Body note }

type noteIn struct {
	ID   uuid.UUID `path:"id"`
	Body note
}

func getNote(context.Context, *idInput) (*noteOut, error) {
	return &noteOut{Body: note{Title: "got"}}, nil
}

func putNote(_ context.Context, in *noteIn) (*noteOut, error) {
	return &noteOut{Body: in.Body}, nil
}

// A server that only serves skips the schemas of what it answers, yet a
// type it both answers and reads is still validated: in the same route,
// or in a route registered after one that answers it.
func TestServingServerValidatesWhatItAlsoAnswers(t *testing.T) {
	get := func() api.Route { return api.Handle(catalog.ContactsGet, getNote) }
	update := func() api.Route { return api.Handle(catalog.ContactsUpdate, putNote) }
	servers := map[string]*api.Server{
		"alone":                   api.NewServer(api.Options{Sessions: fakeSessions{token: "good-token-0123456789"}}, update()),
		"after a route answering": api.NewServer(api.Options{Sessions: fakeSessions{token: "good-token-0123456789"}}, get(), update()),
	}
	target := "/v1/contacts/" + uuid.NewString()
	for name, s := range servers {
		for _, tr := range testkit.Transports(s) {
			t.Run(name+"/"+tr.Name, func(t *testing.T) {
				res := tr.Do(t, testkit.Request("PATCH", target, "good-token-0123456789", map[string]any{"title": "x"}))
				var env envelope
				raw := testkit.ReadJSON(t, res, &env)
				if res.StatusCode != 400 {
					t.Fatalf("a too short title: %d %s", res.StatusCode, raw)
				}
				if len(env.Error.Fields["title"]) != 1 {
					t.Fatalf("fields %v, want one problem with title", env.Error.Fields)
				}
				res = tr.Do(t, testkit.Request("PATCH", target, "good-token-0123456789", map[string]any{"title": "fine"}))
				var got note
				raw = testkit.ReadJSON(t, res, &got)
				if res.StatusCode != 200 {
					t.Fatalf("a valid title: %d %s", res.StatusCode, raw)
				}
				if got.Title != "fine" {
					t.Fatalf("answered %s", raw)
				}
			})
		}
	}
}

// The document still describes what the routes answer.
func TestDescribeHasResponseSchemas(t *testing.T) {
	doc := api.Describe(api.Options{}, api.Handle(catalog.ContactsGet, getNote))
	b, err := json.Marshal(doc.Components.Schemas.Map())
	if err != nil {
		t.Fatal(err)
	}
	var schemas map[string]struct {
		Properties map[string]struct {
			MinLength *int `json:"minLength"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &schemas); err != nil {
		t.Fatal(err)
	}
	if p, ok := schemas["Note"].Properties["title"]; !ok || p.MinLength == nil || *p.MinLength != 2 {
		t.Fatalf("no Note schema with its title's minLength in %s", b)
	}
	if _, ok := schemas["ErrorBody"]; !ok {
		t.Fatalf("no error envelope schema in %s", b)
	}
}
