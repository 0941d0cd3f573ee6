package testkit

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"testing"
)

var (
	hiddenInput  = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	checkedInput = regexp.MustCompile(`<input type="checkbox" name="([^"]*)" value="([^"]*)" checked>`)
)

// Consent answers the sandbox's consent page as a person in a browser
// would: it posts the page's form with email and Allow (or Cancel), every
// scope left ticked, and returns where client's redirects end. page is
// the response that showed the consent page; its body is read.
func Consent(t testing.TB, client *http.Client, page *http.Response, email string, allow bool) *http.Response {
	t.Helper()
	return ConsentUnticking(t, client, page, email, allow)
}

// ConsentUnticking is Consent by a person who unticks the scopes untick
// on the consent page (granular consent): Google grants the others.
func ConsentUnticking(t testing.TB, client *http.Client, page *http.Response, email string, allow bool, untick ...string) *http.Response {
	t.Helper()
	body, err := io.ReadAll(page.Body)
	page.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if page.StatusCode != http.StatusOK {
		t.Fatalf("testkit: no consent page: status %d: %s", page.StatusCode, body)
	}
	form := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(string(body), -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	if form.Get("client_id") == "" {
		t.Fatalf("testkit: page is not the sandbox's consent page:\n%s", body)
	}
	for _, m := range checkedInput.FindAllStringSubmatch(string(body), -1) {
		if v := html.UnescapeString(m[2]); !slices.Contains(untick, v) {
			form.Add(html.UnescapeString(m[1]), v)
		}
	}
	form.Set("email", email)
	form.Set("decision", "deny")
	if allow {
		form.Set("decision", "allow")
	}
	res, err := client.PostForm(page.Request.URL.String(), form)
	if err != nil {
		t.Fatalf("testkit: post consent: %v", err)
	}
	return res
}

// ConsentCode runs the sandbox Google's consent for authURL (a client's
// authorization URL) as the person with email, who allows it, and returns
// the code and state the browser would bring back to the client's
// redirect URI. The person unticks the scopes untick.
func ConsentCode(t testing.TB, authURL, email string, untick ...string) (code, state string) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	page, err := client.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	res := ConsentUnticking(t, client, page, email, true, untick...)
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("testkit: consent answered %d, Location %q", res.StatusCode, res.Header.Get("Location"))
	}
	if e := loc.Query().Get("error"); e != "" {
		t.Fatalf("testkit: consent answered error %s", e)
	}
	return loc.Query().Get("code"), loc.Query().Get("state")
}
