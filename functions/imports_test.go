package functions_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/personalcrm/core/shared/catalog"
)

// TestImportRules keeps the layers apart: no Lambda links the test kit or the AWS fakes' helpers,
// the sandboxes or the table of every function, the local server links the sandboxes but not the test
// kit, the sandboxes do not link "testing", only ai-analysis links the
// OpenAI client, only the functions that call Google's APIs link Google's
// API client stack, only the functions that use a queue link the SQS
// backend and none links a generated AWS service client,
// domain packages stay free of transports, AWS and each other, and
// platform packages import neither domain packages nor functions.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{.Name}}|{{join .Deps \" \"}}|{{join .Imports \" \"}}",
		"github.com/personalcrm/core/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const mod = "github.com/personalcrm/core/"
	// within reports whether d is the package rel or one below it.
	within := func(d, rel string) bool { return d == mod+rel || strings.HasPrefix(d, mod+rel+"/") }
	checked, sawDev, sawSandbox := 0, false, false
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		head, rest, _ := strings.Cut(line, "|")
		deps, imports, _ := strings.Cut(rest, "|")
		path, name, _ := strings.Cut(head, " ")
		rel := strings.TrimPrefix(path, mod)
		isLambda := name == "main" && strings.HasPrefix(rel, "functions/cmd/")
		if isLambda {
			checked++
			for _, d := range strings.Fields(deps) {
				// Nor the table of every function, which links them all.
				if within(d, "shared/testkit") || within(d, "shared/internal/awstest") || within(d, "shared/sandbox") || d == mod+"functions" {
					t.Errorf("%s links %s", rel, d)
				}
				// The OpenAI client only where it is used.
				if d == "github.com/sashabaranov/go-openai" && rel != "functions/cmd/ai-analysis" {
					t.Errorf("%s links %s", rel, d)
				}
				// The SQS backend only in the functions that send to a
				// queue, consume one, or read its depths (health).
				if d == mod+"shared/queue/sqsqueue" && !usesSQS(strings.TrimPrefix(rel, "functions/cmd/")) {
					t.Errorf("%s links %s without sending to, consuming or counting a queue", rel, d)
				}
				// No generated AWS service client: their package init
				// costs each cold start (see shared/awsjson).
				if strings.HasPrefix(d, "github.com/aws/aws-sdk-go-v2/service/") {
					t.Errorf("%s links %s", rel, d)
				}
				// Google's API client stack (gRPC, credentials, transports)
				// only in the functions that call Google's APIs with it;
				// verifying Google's signed tokens does not need it.
				if googleClientStack(d) && !googleAPICallers[rel] {
					t.Errorf("%s links %s", rel, d)
				}
			}
		}
		// The local server is production code that serves the sandboxes:
		// it links them, and never the test kit.
		if rel == "functions/dev" {
			sawDev = true
			if !slices.Contains(strings.Fields(deps), mod+"shared/sandbox") {
				t.Errorf("%s does not link shared/sandbox", rel)
			}
			for _, d := range strings.Fields(deps) {
				if within(d, "shared/testkit") {
					t.Errorf("%s links %s", rel, d)
				}
			}
		}
		if rel == "shared/sandbox" {
			sawSandbox = true
			for _, d := range strings.Fields(deps) {
				if d == "testing" || within(d, "shared/testkit") {
					t.Errorf("%s links %s", rel, d)
				}
			}
		}
		if strings.HasPrefix(rel, "shared/domain/") {
			for _, imp := range strings.Fields(imports) {
				switch {
				case imp == "net/http", strings.HasPrefix(imp, "github.com/aws/"),
					imp == mod+"shared/api", strings.HasPrefix(imp, mod+"functions/"):
					t.Errorf("domain package %s imports %s", rel, imp)
				case strings.HasPrefix(imp, mod+"shared/domain/") && !strings.HasPrefix(imp, path):
					t.Errorf("domain package %s imports another domain, %s", rel, imp)
				}
			}
		}
		if !strings.HasPrefix(rel, "shared/domain/") && strings.HasPrefix(rel, "shared/") && rel != "shared/testkit" {
			for _, imp := range strings.Fields(imports) {
				if strings.HasPrefix(imp, mod+"functions/") || strings.HasPrefix(imp, mod+"shared/domain/") {
					t.Errorf("platform package %s imports %s", rel, imp)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no Lambda packages found")
	}
	if !sawDev || !sawSandbox {
		t.Fatalf("functions/dev found: %v, shared/sandbox found: %v", sawDev, sawSandbox)
	}
}

// usesSQS reports whether the catalog function name sends jobs, consumes
// a queue or reads queue depths.
func usesSQS(name string) bool {
	fn, ok := catalog.Lookup(name)
	return ok && (len(fn.Enqueues) > 0 || fn.Kind == catalog.Job || fn.Needs(catalog.QueueStats))
}

// googleAPICallers are the functions that call Gmail, People or Calendar through
// google.golang.org/api's clients.
var googleAPICallers = map[string]bool{
	"functions/cmd/email-sync":    true,
	"functions/cmd/calendar-sync": true,
	"functions/cmd/enrichment":    true,
	"functions/cmd/gmail-watch":   true,
}

// googleClientStack reports whether pkg is part of Google's API client
// stack: gRPC, the credentials and transports of google.golang.org/api and
// cloud.google.com/go/auth, and idtoken.
func googleClientStack(pkg string) bool {
	return pkg == "google.golang.org/grpc" || pkg == "cloud.google.com/go/auth" ||
		pkg == "google.golang.org/api/idtoken" || pkg == "google.golang.org/api/transport/http" ||
		pkg == "google.golang.org/api/internal/credentialstype"
}

// TestNoImportAliases: the packages under functions/ are named so that no
// import needs renaming.
func TestNoImportAliases(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && filepath.Dir(path) != "." {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range f.Imports {
			// An alias that only spells out the package's own name
			// (go-openai is package openai) renames nothing.
			path, _ := strconv.Unquote(im.Path.Value)
			if im.Name != nil && im.Name.Name != "_" && im.Name.Name != strings.TrimPrefix(filepath.Base(path), "go-") {
				t.Errorf("%s imports %s as %s", file, im.Path.Value, im.Name.Name)
			}
		}
	}
}
