package api_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/yaml"

	"github.com/personalcrm/core/shared/testkit"
)

// humaCopy is the patched copy of huma that go.mod's replace points at.
const humaCopy = "../third_party/huma"

// TestHumaCopyIsUpstreamWithPatches: the copy is the huma version go.mod
// requires, with the directory's patches applied and nothing else changed
// (update.sh builds the same from upstream into a temporary directory),
// so neither a hand edit nor a partial update goes unnoticed.
func TestHumaCopyIsUpstreamWithPatches(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads upstream huma")
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}} {{with .Replace}}{{.Path}}{{end}}",
		"github.com/danielgtaylor/huma/v2").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	version, replace, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if replace != "./shared/third_party/huma" {
		t.Fatalf("go.mod replaces huma with %q, not the patched copy", replace)
	}
	want := t.TempDir()
	cmd := exec.Command(filepath.Join(humaCopy, "update.sh"), version, want)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("update.sh %s: %v\n%s", version, err, out)
	}
	// Files of the copy that upstream does not have.
	own := map[string]bool{"README.md": true, "go.mod": true, "update.sh": true}
	seen := map[string]bool{}
	err = filepath.WalkDir(humaCopy, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(humaCopy, path)
		if own[rel] || filepath.Ext(rel) == ".patch" {
			return nil
		}
		seen[rel] = true
		got, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		exp, err := os.ReadFile(filepath.Join(want, rel))
		if os.IsNotExist(err) {
			t.Errorf("%s is not in huma %s", rel, version)
			return nil
		} else if err != nil {
			return err
		}
		if !bytes.Equal(got, exp) {
			t.Errorf("%s differs from huma %s with the patches applied", rel, version)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(want, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if rel, _ := filepath.Rel(want, path); !seen[rel] {
			t.Errorf("%s of huma %s is missing from the copy", rel, version)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestHumaInitIsCheap: huma compiles its patterns on first use, not at
// package initialisation, which every route pays at cold start (upstream
// allocated 124 KB there and huma/yaml 52 KB).
func TestHumaInitIsCheap(t *testing.T) {
	for _, pkg := range []string{"github.com/danielgtaylor/huma/v2", "github.com/danielgtaylor/huma/v2/yaml"} {
		if n := testkit.InitBytes(t, pkg); n > 16<<10 {
			t.Errorf("%s allocates %d bytes at init, want at most 16 KiB", pkg, n)
		}
	}
}

// The patterns the copy compiles lazily still decide as upstream's did.
func TestHumaLazyPatterns(t *testing.T) {
	registry := huma.NewMapRegistry("#/components/schemas/", huma.DefaultSchemaNamer)
	valid := func(s *huma.Schema, v string) bool {
		res := &huma.ValidateResult{}
		huma.Validate(registry, s, huma.NewPathBuffer(nil, 0), huma.ModeWriteToServer, v, res)
		return len(res.Errors) == 0
	}
	for _, c := range []struct {
		schema *huma.Schema
		value  string
		want   bool
	}{
		{&huma.Schema{Type: "string", Format: "hostname"}, "mail.example.com", true},
		{&huma.Schema{Type: "string", Format: "hostname"}, "a" + strings.Repeat("b", 62) + ".example", true},
		{&huma.Schema{Type: "string", Format: "hostname"}, "a" + strings.Repeat("b", 63) + ".example", false},
		{&huma.Schema{Type: "string", Format: "hostname"}, "-bad.example", false},
		{&huma.Schema{Type: "string", Format: "json-pointer"}, "/a/b~1c", true},
		{&huma.Schema{Type: "string", Format: "json-pointer"}, "a/b", false},
		{&huma.Schema{Type: "string", Format: "relative-json-pointer"}, "1/a", true},
		{&huma.Schema{Type: "string", Format: "relative-json-pointer"}, "01/a", false},
		{&huma.Schema{Type: "string", Format: "uri-template"}, "https://example.com/{id}", true},
		{&huma.Schema{Type: "string", Format: "uri-template"}, "https://example.com/{id", false},
		{&huma.Schema{Type: "string", ContentEncoding: "base64"}, "aGVsbG8=", true},
		{&huma.Schema{Type: "string", ContentEncoding: "base64"}, "not base64!", false},
	} {
		if got := valid(c.schema, c.value); got != c.want {
			t.Errorf("format %q%s of %q: valid = %v, want %v", c.schema.Format, c.schema.ContentEncoding, c.value, got, c.want)
		}
	}

	// YAML quotes what would otherwise read as another type, and writes
	// multi-line strings as blocks.
	in, _ := json.Marshal(map[string]any{"a": "yes", "b": "plain", "c": "12", "d": "x\ny\n"})
	var out bytes.Buffer
	if err := yaml.Convert(&out, bytes.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`a: "yes"`, "b: plain", `c: "12"`, "d: |\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("YAML lacks %q:\n%s", want, out.String())
		}
	}
}
