package openapi_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/personalcrm/core/functions/routes"
	"github.com/personalcrm/core/functions/routes/openapi"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/testkit"
)

var update = flag.Bool("update", false, "rewrite openapi.json from the routes")

// TestDocumentIsCurrent fails when openapi.json differs from the document
// generated from the routes' types.
func TestDocumentIsCurrent(t *testing.T) {
	doc, err := routes.Document()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("openapi.json", doc, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(doc, openapi.Document) {
		t.Fatalf("openapi.json is stale; regenerate with: go test ./functions/routes/openapi -update\n%s",
			cmp.Diff(string(openapi.Document), string(doc)))
	}
}

// TestDocumentMatchesCatalog checks that the document has exactly the
// catalog's routes, each under its catalog name.
func TestDocumentMatchesCatalog(t *testing.T) {
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			ID string `json:"operationId"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openapi.Document, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi %q, want 3.1", doc.OpenAPI)
	}
	var got, want []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			got = append(got, op.ID+" "+strings.ToUpper(method)+" "+path)
		}
	}
	for _, fn := range catalog.Routes() {
		want = append(want, fn.Name+" "+fn.Method+" "+fn.Path)
	}
	sort.Strings(got)
	sort.Strings(want)
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("document and catalog disagree (-catalog +document):\n%s", d)
	}
}

func TestServesDocument(t *testing.T) {
	srv := api.NewServer(api.Options{}, openapi.Route())
	for _, tr := range testkit.Transports(srv) {
		t.Run(tr.Name, func(t *testing.T) {
			res := tr.Do(t, testkit.Request("GET", "/openapi.json", "", nil))
			body := testkit.ReadJSON(t, res, nil)
			if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" || !bytes.Equal(body, openapi.Document) {
				t.Fatalf("got %d %s, %d bytes", res.StatusCode, res.Header.Get("Content-Type"), len(body))
			}
		})
	}
}
