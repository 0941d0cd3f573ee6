package testkit

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// InitBytes returns how many bytes package pkg (its full import path)
// allocates at package initialisation in the running test binary, read
// from GODEBUG=inittrace=1 in a run of the binary that runs no test; 0 when
// the package has nothing to initialise. Allocations, unlike times, do not
// vary with the machine's load: a test bounds them to keep work that a cold
// start does not need out of package init.
func InitBytes(t testing.TB, pkg string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, _ := cmd.CombinedOutput()
	bytes := 0
	for _, line := range strings.Split(string(out), "\n") {
		// init <pkg> @0.5 ms, 0.01 ms clock, 1024 bytes, 12 allocs
		f := strings.Fields(line)
		if len(f) < 9 || f[0] != "init" || f[1] != pkg || f[8] != "bytes," {
			continue
		}
		n, err := strconv.Atoi(f[7])
		if err != nil {
			t.Fatalf("inittrace line %q: %v", line, err)
		}
		bytes += n
	}
	if !strings.Contains(string(out), "init ") {
		t.Fatalf("no inittrace output from %s:\n%s", os.Args[0], out)
	}
	return bytes
}
