package signin_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/personalcrm/core/functions/routes/signin"
)

// TestReturnToTricks: known open-redirect tricks all fall back to the web
// app; paths and URLs on allowed origins are honoured.
func TestReturnToTricks(t *testing.T) {
	app, _ := url.Parse("https://app.example.com/welcome")
	r := signin.NewReturns(app, []string{"https://admin.example.com", "http://localhost:5173"})
	const fallback = "https://app.example.com/welcome"

	honoured := map[string]string{
		"/contacts/123":                                 "https://app.example.com/contacts/123",
		"/contacts/123?tab=mail#notes":                  "https://app.example.com/contacts/123?tab=mail#notes",
		"/":                                             "https://app.example.com/",
		"/a%2Fb":                                        "https://app.example.com/a%2Fb",
		"/@evil.example":                                "https://app.example.com/@evil.example",
		"/search?next=//evil.example":                   "https://app.example.com/search?next=//evil.example",
		"https://app.example.com/contacts":              "https://app.example.com/contacts",
		"https://admin.example.com/users?x=1":           "https://admin.example.com/users?x=1",
		"HTTPS://ADMIN.EXAMPLE.COM/users":               "https://ADMIN.EXAMPLE.COM/users",
		"https://admin.example.com:443/users":           "https://admin.example.com:443/users",
		"http://localhost:5173/app.html":                "http://localhost:5173/app.html",
		"https://app.example.com":                       "https://app.example.com",
		"/" + strings.Repeat("a", signin.MaxReturnTo-1): "https://app.example.com/" + strings.Repeat("a", signin.MaxReturnTo-1),
	}
	for in, want := range honoured {
		if got := r.Resolve(in); got != want {
			t.Errorf("Resolve(%q) = %q, want %q", in, got, want)
		}
	}

	for _, in := range openRedirectTricks {
		if got := r.Resolve(in); got != fallback {
			t.Errorf("Resolve(%q) = %q, want the web app %q", in, got, fallback)
		}
	}
}

// openRedirectTricks are returnTo values that must never be honoured:
// other hosts, scheme-relative and backslash forms, script and other
// schemes, control characters raw and percent-encoded, user information,
// look-alike hosts, relative paths, and overlong values. Each falls back
// to the web app, whether resolved directly, after signing in or after
// signing out.
var openRedirectTricks = []string{
	"",
	"https://evil.example/",
	"http://evil.example",
	"//evil.example",
	"//evil.example/contacts",
	"///evil.example",
	"////evil.example",
	"/\\evil.example",
	"\\/evil.example",
	"\\\\evil.example",
	"/%5Cevil.example",
	"/%2F%2Fevil.example",
	"/%2Fevil.example",
	"%2F%2Fevil.example",
	"/%09/evil.example",
	"/\t/evil.example",
	"/\n/evil.example",
	"/\r\n/evil.example",
	" /contacts",
	"/contacts ",
	"/%00/evil.example",
	"/%0d%0aSet-Cookie:x=y",
	"javascript:alert(1)",
	"JavaScript:alert(1)",
	"java\tscript:alert(1)",
	"data:text/html,<script>alert(1)</script>",
	"vbscript:msgbox(1)",
	"file:///etc/passwd",
	"ftp://app.example.com/",
	"https:evil.example",
	"https:/evil.example",
	"https:///evil.example",
	"https://app.example.com@evil.example/",
	"https://app.example.com:@evil.example/",
	"https://user:pass@app.example.com/",
	"https://evil.example@app.example.com/",
	"https://app.example.com.evil.example/",
	"https://evil.example/https://app.example.com/",
	"https://evil.example?https://app.example.com",
	"https://evil.example#https://app.example.com",
	"https://app.example.com\\@evil.example/",
	"https://app.example.com%2F@evil.example/",
	"https://app.example.com%40evil.example/",
	"https://app.example.com．evil.example/",
	"https://аpp.example.com/", // Cyrillic а
	"http://app.example.com/",  // the app is https
	"https://app.example.com:8443/",
	"https://admin.example.com//evil.example",
	"https://admin.example.com/%2F/evil.example",
	"http://localhost:5174/",
	"http://127.0.0.1:5173/",
	"contacts/123",
	"evil.example",
	"./evil",
	"../evil",
	"?next=/",
	"#/contacts",
	"/" + strings.Repeat("a", signin.MaxReturnTo),
	"https://admin.example.com/" + strings.Repeat("a", signin.MaxReturnTo),
}
