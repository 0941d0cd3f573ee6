package functions_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/personalcrm/core/shared/catalog"
)

// TestCatalogMatchesFolders fails when a catalog entry has no folder with a
// main package, or a folder under functions/cmd is not in the catalog.
func TestCatalogMatchesFolders(t *testing.T) {
	var want []string
	for _, fn := range catalog.All() {
		want = append(want, filepath.ToSlash(strings.TrimPrefix(fn.Dir(), "functions/")))
	}
	var got []string
	entries, err := os.ReadDir("cmd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			t.Errorf("cmd/%s: only function folders belong here", e.Name())
			continue
		}
		dir := "cmd/" + e.Name()
		if !isMain(t, dir) {
			t.Errorf("%s has no main package", dir)
		}
		got = append(got, dir)
	}
	sort.Strings(want)
	sort.Strings(got)
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("catalog and functions/cmd disagree (-catalog +folders):\n%s", d)
	}
}

func isMain(t *testing.T, dir string) bool {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.PackageClauseOnly)
		if err != nil {
			t.Fatal(err)
		}
		names[file.Name.Name] = true
	}
	return names["main"] && len(names) == 1
}

// TestCatalogEntries checks the catalog's own consistency.
func TestCatalogEntries(t *testing.T) {
	names := map[string]bool{}
	routes := map[string]string{}
	for _, fn := range catalog.All() {
		if names[fn.Name] {
			t.Errorf("%s: duplicate name", fn.Name)
		}
		names[fn.Name] = true
		if fn.Name != strings.ToLower(fn.Name) || strings.ContainsAny(fn.Name, " _/") {
			t.Errorf("%s: names are lower-case and hyphenated", fn.Name)
		}
		if fn.Summary == "" {
			t.Errorf("%s: no summary", fn.Name)
		}
		if fn.CostBearing && (fn.Kind != catalog.Route || fn.Limit == nil) {
			t.Errorf("%s: cost-bearing, so a route with a rate limit (which fails closed)", fn.Name)
		}
		if fn.Limit != nil && !fn.Needs(catalog.Cache) {
			t.Errorf("%s: rate limited without the cache, which keeps the limiter's counts", fn.Name)
		}
		if fn.MemoryMB < 128 || fn.MemoryMB > 10240 || fn.Timeout <= 0 || fn.Timeout.Minutes() > 15 {
			t.Errorf("%s: memory %d MB or timeout %s outside Lambda's limits", fn.Name, fn.MemoryMB, fn.Timeout)
		}
		switch fn.Kind {
		case catalog.Route:
			key := fn.Method + " " + fn.Path
			if other, ok := routes[key]; ok {
				t.Errorf("%s and %s both serve %s", fn.Name, other, key)
			}
			routes[key] = fn.Name
			if !strings.HasPrefix(fn.Path, "/") || fn.Access == "" || fn.Tag == "" {
				t.Errorf("%s: route needs a path, access and tag", fn.Name)
			}
			if fn.Timeout.Seconds() > 30 {
				t.Errorf("%s: API Gateway gives a route at most 30 s, not %s", fn.Name, fn.Timeout)
			}
			if fn.Access == catalog.Signed && !fn.Needs(catalog.Database) {
				t.Errorf("%s: signed routes resolve sessions in the database", fn.Name)
			}
		case catalog.Job:
			if fn.MaxAttempts < 1 || fn.BatchSize < 1 || fn.BatchSize > 10000 {
				t.Errorf("%s: job needs max attempts and a batch size", fn.Name)
			}
		case catalog.Op:
		default:
			t.Errorf("%s: unknown kind %q", fn.Name, fn.Kind)
		}
		for _, q := range fn.Enqueues {
			if j, ok := catalog.Lookup(q); !ok || j.Kind != catalog.Job {
				t.Errorf("%s enqueues %q, which is not a job type", fn.Name, q)
			}
		}
	}
	for _, s := range catalog.Schedules() {
		target, ok := catalog.Lookup(s.Target)
		if !ok || target.Kind == catalog.Route {
			t.Errorf("schedule %s targets %q, which is not a job or op", s.Name, s.Target)
		}
		if s.Every < 60e9 {
			t.Errorf("schedule %s runs more often than once a minute", s.Name)
		}
	}
}

// TestCostBearingRoutes: the routes whose calls spend money or an outside
// quota are marked, so that their rate limits fail closed.
func TestCostBearingRoutes(t *testing.T) {
	var got []string
	for _, fn := range catalog.All() {
		if fn.CostBearing {
			got = append(got, fn.Name)
		}
	}
	want := []string{catalog.ContactsEnrich, catalog.EmailsSync, catalog.AIAnalyze, catalog.CalendarSyncRequest}
	sort.Strings(got)
	sort.Strings(want)
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("cost-bearing routes (-want +got):\n%s", d)
	}
}
