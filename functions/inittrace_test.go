package functions_test

import (
	"math"
	"testing"
)

// TestParseInitTrace: the runtime's inittrace lines give each package's
// clock time; other lines are ignored.
func TestParseInitTrace(t *testing.T) {
	got := parseInitTrace("init internal/bytealg @0.002 ms, 0 ms clock, 0 bytes, 0 allocs\n" +
		"init github.com/personalcrm/core/shared/config @1.5 ms, 0.66 ms clock, 412000 bytes, 3100 allocs\n" +
		"{\"level\":\"INFO\",\"msg\":\"init done\"}\n" +
		"init github.com/personalcrm/core/shared/config @2.0 ms, 0.04 ms clock, 10 bytes, 1 allocs\n")
	if len(got) != 2 || got["internal/bytealg"] != 0 || math.Abs(got["github.com/personalcrm/core/shared/config"]-0.70) > 1e-9 {
		t.Fatalf("parseInitTrace = %v", got)
	}
	top := initTimes{total: 0.7, pkgs: got}.top(1)
	if top != "shared/config:0.70" {
		t.Fatalf("top = %q", top)
	}
}
