package openapi_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/personalcrm/core/functions"
	"github.com/personalcrm/core/functions/routes/openapi"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/testkit"
)

var update = flag.Bool("update", false, "rewrite openapi.json from the routes")

// TestDocumentIsCurrent fails when openapi.json differs from the document
// generated from the routes' types.
func TestDocumentIsCurrent(t *testing.T) {
	doc, err := functions.Document()
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

// TestDocumentForClients treats the document as a web app's contract:
// Redocly's recommended rules pass with no error and no warning, and
// openapi-typescript generates types from it that a client
// (testdata/client.ts) compiles against with tsc --strict, so a change
// that would break such a client fails here. The tools are the ones
// pinned in package-lock.json (make tools).
func TestDocumentForClients(t *testing.T) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "node_modules", ".bin")
	if _, err := os.Stat(filepath.Join(root, "node_modules")); err != nil {
		t.Skip("node_modules is absent: run `make tools` (npm ci) to lint the API document and generate its TypeScript types")
	}
	for _, tool := range []string{"redocly", "openapi-typescript", "tsc"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			t.Fatalf("%s is not installed though node_modules is: run `make tools` (npm ci): %v", tool, err)
		}
	}
	doc, err := filepath.Abs("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	// run runs a pinned tool; with lint, a failing exit status is left to
	// the report it prints.
	run := func(lint bool, args ...string) []byte {
		t.Helper()
		cmd := exec.Command("npx", append([]string{"--no-install"}, args...)...)
		cmd.Dir = root
		// The pinned Node first; no telemetry, no update check.
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
			"REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_COLOR=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil && !(lint && json.Valid(out)) {
			t.Fatalf("%s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
		}
		return out
	}

	var lint struct {
		Totals struct {
			Errors, Warnings int
		} `json:"totals"`
		Problems []struct {
			RuleID   string `json:"ruleId"`
			Severity string `json:"severity"`
			Message  string `json:"message"`
			Location []struct {
				Pointer string `json:"pointer"`
			} `json:"location"`
		} `json:"problems"`
	}
	out := run(true, "redocly", "lint", "--extends=recommended", "--format=json", doc)
	if err := json.Unmarshal(out, &lint); err != nil {
		t.Fatalf("redocly lint output: %v\n%s", err, out)
	}
	if lint.Totals.Errors+lint.Totals.Warnings > 0 || len(lint.Problems) > 0 {
		var lines []string
		for _, p := range lint.Problems {
			at := ""
			if len(p.Location) > 0 {
				at = p.Location[0].Pointer
			}
			lines = append(lines, fmt.Sprintf("%s %s at %s: %s", p.Severity, p.RuleID, at, p.Message))
		}
		t.Errorf("redocly lint (recommended): %d errors, %d warnings:\n%s", lint.Totals.Errors, lint.Totals.Warnings, strings.Join(lines, "\n"))
	}

	dir := t.TempDir()
	client, err := os.ReadFile(filepath.Join("testdata", "client.ts"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "client.ts"), client, 0o644); err != nil {
		t.Fatal(err)
	}
	run(false, "openapi-typescript", doc, "-o", filepath.Join(dir, "api.ts"))
	types, err := os.ReadFile(filepath.Join(dir, "api.ts"))
	if err != nil {
		t.Fatalf("generated types: %v", err)
	}
	if !bytes.Contains(types, []byte(`"contacts-list": {`)) {
		t.Fatalf("generated types have no contacts-list operation:\n%.2000s", types)
	}
	run(false, "tsc", "--noEmit", "--strict", "--target", "es2022", "--module", "es2022", "--moduleResolution", "bundler",
		"--lib", "es2022,dom", filepath.Join(dir, "client.ts"))
}
