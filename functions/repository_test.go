package functions_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"testing"

	"github.com/personalcrm/core/shared/catalog"
)

// maxTracked is the size above which a tracked file is refused: the
// largest source file is a tenth of it, and a binary is far beyond it.
const maxTracked = 1 << 20

// tracked is one file of the index: its mode, size and first bytes.
type tracked struct {
	path string
	mode string // "100644", "100755", "120000" ...
	size int64
	head []byte // up to the first 8 bytes
}

// executableMagic are the first bytes of executables and object files:
// ELF, Mach-O (32 and 64 bits, both byte orders, universal) and PE (MZ).
var executableMagic = []struct {
	name  string
	magic []byte
}{
	{"ELF", []byte{0x7f, 'E', 'L', 'F'}},
	{"Mach-O", []byte{0xfe, 0xed, 0xfa, 0xce}},
	{"Mach-O", []byte{0xfe, 0xed, 0xfa, 0xcf}},
	{"Mach-O", []byte{0xce, 0xfa, 0xed, 0xfe}},
	{"Mach-O", []byte{0xcf, 0xfa, 0xed, 0xfe}},
	{"Mach-O universal", []byte{0xca, 0xfe, 0xba, 0xbe}},
	{"PE", []byte{'M', 'Z'}},
}

// refused says why f must not be tracked, or "" when it may be.
func refused(f tracked) string {
	for _, m := range executableMagic {
		if bytes.HasPrefix(f.head, m.magic) {
			return "is an executable (" + m.name + ")"
		}
	}
	if f.mode == "100755" && !bytes.HasPrefix(f.head, []byte("#!")) {
		return "is executable (mode 100755) but not a script with a #! line"
	}
	if f.size > maxTracked {
		return fmt.Sprintf("is %d bytes, over the 1 MB limit", f.size)
	}
	return ""
}

// git runs git at the repository's root and returns its output; the test
// is skipped outside a git checkout.
func git(t *testing.T, stdin io.Reader, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skip("not a git checkout")
	}
	cmd := exec.Command("git", args...)
	cmd.Dir = strings.TrimSpace(string(top))
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// trackedFiles reads every file of the index, as it will be committed.
func trackedFiles(t *testing.T) []tracked {
	t.Helper()
	var files []tracked
	var objects strings.Builder
	for _, entry := range strings.Split(strings.TrimSuffix(string(git(t, nil, "ls-files", "-s", "-z")), "\x00"), "\x00") {
		// <mode> <object> <stage>\t<path>
		meta, p, ok := strings.Cut(entry, "\t")
		fields := strings.Fields(meta)
		if !ok || len(fields) != 3 {
			t.Fatalf("git ls-files -s: unexpected entry %q", entry)
		}
		if fields[0] == "160000" { // a submodule: no blob
			continue
		}
		files = append(files, tracked{path: p, mode: fields[0]})
		objects.WriteString(fields[1] + "\n")
	}
	// git cat-file --batch: "<object> <type> <size>\n<content>\n" each.
	r := bufio.NewReader(bytes.NewReader(git(t, strings.NewReader(objects.String()), "cat-file", "--batch")))
	for i := range files {
		header, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("git cat-file: %v", err)
		}
		fields := strings.Fields(header)
		if len(fields) != 3 {
			t.Fatalf("git cat-file: %s: unexpected header %q", files[i].path, header)
		}
		size, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			t.Fatalf("git cat-file: %s: size %q", files[i].path, fields[2])
		}
		content := make([]byte, size+1) // and its newline
		if _, err := io.ReadFull(r, content); err != nil {
			t.Fatalf("git cat-file: %s: %v", files[i].path, err)
		}
		files[i].size = size
		files[i].head = content[:min(size, 8)]
	}
	return files
}

// TestNoBinariesTracked fails when the repository tracks an executable
// binary, an executable file that is not a script, or a file over 1 MB:
// build outputs belong in .gitignore, not in every clone forever.
func TestNoBinariesTracked(t *testing.T) {
	files := trackedFiles(t)
	if len(files) == 0 {
		t.Fatal("git ls-files lists no file")
	}
	for _, f := range files {
		if why := refused(f); why != "" {
			t.Errorf("%s %s: remove it (git rm --cached) and ignore it", f.path, why)
		}
	}
}

func TestRefused(t *testing.T) {
	tests := []struct {
		name string
		f    tracked
		want string // part of the reason; "" when allowed
	}{
		{"source", tracked{mode: "100644", size: 100, head: []byte("package ")}, ""},
		{"script", tracked{mode: "100755", size: 100, head: []byte("#!/usr/bin/env bash")}, ""},
		{"symlink", tracked{mode: "120000", size: 10, head: []byte("../x")}, ""},
		{"empty", tracked{mode: "100644"}, ""},
		{"1 MB", tracked{mode: "100644", size: maxTracked, head: []byte("{")}, ""},
		{"over 1 MB", tracked{mode: "100644", size: maxTracked + 1, head: []byte("{")}, "over the 1 MB"},
		{"ELF", tracked{mode: "100755", size: 35 << 20, head: []byte("\x7fELF\x02\x01\x01\x00")}, "ELF"},
		{"ELF not executable", tracked{mode: "100644", size: 1000, head: []byte("\x7fELF\x02\x01\x01\x00")}, "ELF"},
		{"Mach-O", tracked{mode: "100755", size: 1000, head: []byte{0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1}}, "Mach-O"},
		{"PE", tracked{mode: "100644", size: 1000, head: []byte("MZ\x90\x00")}, "PE"},
		{"executable text", tracked{mode: "100755", size: 10, head: []byte("echo hi\n")}, "not a script"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := refused(tt.f)
			if tt.want == "" && got != "" {
				t.Errorf("refused: %s; want allowed", got)
			}
			if tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("refused = %q; want it to say %q", got, tt.want)
			}
		})
	}
}

// TestBuildOutputsIgnored fails when .gitignore lets a build output be
// added, or ignores a file that should be tracked.
func TestBuildOutputsIgnored(t *testing.T) {
	ignored := []string{
		".build/contacts-list/bootstrap",
		"cdk.out/manifest.json", "infra/cdk.out/manifest.json", "cdk.out.deploy-lock/x",
		"functions/functions.test", "cover.out",
		"dev", "functions/dev/dev",
	}
	for _, fn := range catalog.All() {
		dir := path.Clean(strings.ReplaceAll(fn.Dir(), `\`, "/"))
		base := path.Base(dir)
		// go build ./functions/cmd/<name> at the root; go build in
		// the folder.
		ignored = append(ignored, base, dir+"/"+base)
	}
	kept := []string{
		"README.md", "Makefile", "LICENSE", "go.work", "cdk.context.json", "newdir/file.go",
		"functions/cmd/contacts-list/main.go", "functions/cmd/contacts-list/testdata/event.json",
		"functions/routes/contacts/contacts.go", "shared/newpkg/newpkg.go", ".ci/run",
	}
	paths := append(append([]string(nil), ignored...), kept...)
	// check-ignore exits 1 when no path is ignored; the list above always
	// has some, so any failure is a real one.
	out := git(t, strings.NewReader(strings.Join(paths, "\n")+"\n"), "check-ignore", "--no-index", "--stdin")
	got := map[string]bool{}
	for _, p := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		got[p] = true
	}
	for _, p := range ignored {
		if !got[p] {
			t.Errorf("%s is a build output but .gitignore does not ignore it", p)
		}
	}
	for _, p := range kept {
		if got[p] {
			t.Errorf("%s should be trackable but .gitignore ignores it", p)
		}
	}
	// Tracked files that the patterns would ignore: a pattern too broad.
	for _, p := range strings.Fields(string(git(t, nil, "ls-files", "-ci", "--exclude-standard"))) {
		t.Errorf("%s is tracked but .gitignore ignores it", p)
	}
}
