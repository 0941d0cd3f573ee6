package config_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/testkit"
)

// TestPubSubNamesMatchPattern: the hand-written check of Pub/Sub names
// accepts exactly what the documented pattern does.
func TestPubSubNamesMatchPattern(t *testing.T) {
	pattern := regexp.MustCompile(`^projects/(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]/subscriptions/([a-zA-Z][a-zA-Z0-9\-_.~+%]{2,254})$`)
	long := strings.Repeat("a", 255)
	for _, s := range []string{
		"projects/my-project/subscriptions/gmail-push",
		"projects/example.com:crm-prod/subscriptions/Gmail.Push_1~+%",
		"projects/a.b-c:abcdef/subscriptions/abc",
		"projects/abcdef/subscriptions/ab",
		"projects/abcdef/subscriptions/" + long,
		"projects/abcdef/subscriptions/" + long + "a",
		"projects/abcde/subscriptions/abc",
		"projects/" + strings.Repeat("a", 30) + "/subscriptions/abc",
		"projects/" + strings.Repeat("a", 31) + "/subscriptions/abc",
		"projects/abcde-/subscriptions/abc",
		"projects/1abcdef/subscriptions/abc",
		"projects/Abcdef/subscriptions/abc",
		"projects/abc_def/subscriptions/abc",
		"projects/:abcdef/subscriptions/abc",
		"projects/a:b:abcdef/subscriptions/abc",
		"projects/EX.com:abcdef/subscriptions/abc",
		"projects/abcdef/subscriptions/1abc",
		"projects/abcdef/subscriptions/ab/c",
		"projects/abcdef/subscriptions/abc\n",
		"projects/abcdef/subscriptions/abc def",
		"projects/abcdef/topics/abc",
		"projects/abcdef/subscriptions/",
		"projects/abcdef",
		"projects//subscriptions/abc",
		"project/abcdef/subscriptions/abc",
		"xprojects/abcdef/subscriptions/abc",
		"projects/abcdef/subscriptions/googabc",
		"projects/abcdef/subscriptions/GOOGabc",
		"projects/abcdef/subscriptions/gooabc",
		"projects/abcdef/subscriptions/abcé",
		"",
	} {
		m := pattern.FindStringSubmatch(s)
		want := m != nil && !strings.HasPrefix(strings.ToLower(m[1]), "goog")
		if got := config.ValidSubscription(s); got != want {
			t.Errorf("ValidSubscription(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestNoCostlyInit: initialising the package allocates next to nothing
// (compiling a regular expression at start-up cost every function about a
// millisecond of its cold start).
func TestNoCostlyInit(t *testing.T) {
	const pkg = "github.com/personalcrm/core/shared/config"
	if n := testkit.InitBytes(t, pkg); n > 16<<10 {
		t.Errorf("%s allocates %d bytes at init", pkg, n)
	}
}
