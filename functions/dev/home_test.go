package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/personalcrm/core/functions/routes/openapi"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/testkit"
)

// get fetches path with c and returns the status, the headers and the body.
func get(t *testing.T, c *http.Client, base, path string) (int, http.Header, string) {
	t.Helper()
	res, err := c.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, string(b)
}

// assertPage checks what every page of the local server has: HTML, the
// content security policy, no caching, and no script.
func assertPage(t *testing.T, path string, h http.Header, body string) {
	t.Helper()
	if ct := h.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("%s: Content-Type %q", path, ct)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("%s: Content-Security-Policy %q", path, csp)
	}
	if h.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: Cache-Control %q", path, h.Get("Cache-Control"))
	}
	if strings.Contains(strings.ToLower(body), "<script") || strings.Contains(body, "style=") || strings.Contains(body, "<style") {
		t.Errorf("%s: a script or inline style on the page:\n%s", path, body)
	}
	if m := regexp.MustCompile(`(?:src|href)="(?:https?:)?//`).FindString(body); m != "" {
		t.Errorf("%s: loads or links %s elsewhere", path, m)
	}
}

// TestHomeSignedOut: the home page without a session offers to sign in,
// explains a failed sign-in, escaping an unknown code, and links the API
// reference.
func TestHomeSignedOut(t *testing.T) {
	t.Parallel()
	_, base, _ := devServer(t)
	code, h, body := get(t, http.DefaultClient, base, "/")
	assertPage(t, "/", h, body)
	if code != http.StatusOK || !strings.Contains(body, "Not signed in") || !strings.Contains(body, `href="/auth/google/login"`) ||
		!strings.Contains(body, `href="/docs"`) || strings.Contains(body, "Sign-in failed") {
		t.Fatalf("GET /: %d\n%s", code, body)
	}
	_, _, body = get(t, http.DefaultClient, base, "/?error=account_conflict")
	if !strings.Contains(body, "Sign-in failed: This email address already belongs to a user who signs in with a different Google account.") {
		t.Fatalf("GET /?error=account_conflict:\n%s", body)
	}
	_, _, body = get(t, http.DefaultClient, base, "/?error="+url.QueryEscape(`<img src=x onerror=alert(1)>`))
	if !strings.Contains(body, "Sign-in failed: &lt;img src=x onerror=alert(1)&gt;") || strings.Contains(body, "<img") {
		t.Fatalf("an unknown error code is not shown escaped:\n%s", body)
	}
	// A cookie that names no session is no session.
	r, _ := http.NewRequest("GET", base+"/", nil)
	r.AddCookie(&http.Cookie{Name: auth.CookieName, Value: "not-a-session"})
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), "Not signed in") {
		t.Fatalf("GET / with a stale cookie: %d\n%s", res.StatusCode, b)
	}
	code, h, body = get(t, http.DefaultClient, base, "/contacts/"+"00000000-0000-0000-0000-000000000001")
	assertPage(t, "/contacts/{id}", h, body)
	if code != http.StatusUnauthorized || !strings.Contains(body, `href="/auth/google/login"`) {
		t.Fatalf("a contact page signed out: %d\n%s", code, body)
	}
	code, h, _ = get(t, http.DefaultClient, base, "/assets/local.css")
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/css") {
		t.Fatalf("GET /assets/local.css: %d %s", code, h.Get("Content-Type"))
	}
}

// TestDocsPage: GET /docs lists every operation of the OpenAPI document
// with its parameters and responses, and every schema.
func TestDocsPage(t *testing.T) {
	t.Parallel()
	_, base, _ := devServer(t)
	code, h, body := get(t, http.DefaultClient, base, "/docs")
	assertPage(t, "/docs", h, body)
	if code != http.StatusOK {
		t.Fatalf("GET /docs: %d\n%s", code, body)
	}
	var doc struct {
		Paths      map[string]map[string]struct{ Summary string } `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapi.Document, &doc); err != nil {
		t.Fatal(err)
	}
	ops := 0
	for path, item := range doc.Paths {
		for method, op := range item {
			ops++
			if !strings.Contains(body, "<code>"+strings.ToUpper(method)+" "+path+"</code>") {
				t.Errorf("/docs lacks %s %s", strings.ToUpper(method), path)
			}
			if s := strings.ReplaceAll(op.Summary, "'", "&#39;"); !strings.Contains(body, s) {
				t.Errorf("/docs lacks the summary of %s %s: %q", method, path, op.Summary)
			}
		}
	}
	if ops < 20 {
		t.Fatalf("only %d operations in the document", ops)
	}
	for name := range doc.Components.Schemas {
		if !strings.Contains(body, `id="schema-`+name+`"`) {
			t.Errorf("/docs lacks the schema %s", name)
		}
	}
	// The timeline's parameters and responses, with their schema linked.
	i := strings.Index(body, `<code>GET /v1/contacts/{id}/timeline</code>`)
	if i < 0 {
		t.Fatal("no timeline operation")
	}
	section := body[i:]
	section = section[:strings.Index(section, "</section>")]
	for _, want := range []string{"<code>id</code> <em>required</em>", "<td>path</td>", "<code>cursor</code>", "<td>query</td>",
		"<code>200</code>", `<a href="#schema-TimelinePage">TimelinePage</a>`, "<code>404</code>", "bearer or session"} {
		if !strings.Contains(section, want) {
			t.Errorf("the timeline operation lacks %q:\n%s", want, section)
		}
	}
}

// TestHomeSignedIn signs in through the sandbox Google and waits for the
// background jobs: the home page then lists the person's contacts by
// their last interaction with their counts and the sync states, each
// contact's page its timeline newest first, and another user's contact is
// not found.
func TestHomeSignedIn(t *testing.T) {
	t.Parallel()
	s, base, _ := devServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	s.jobs.start(ctx)
	t.Cleanup(s.jobs.wait)
	t.Cleanup(cancel)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	page, err := browser.Get(base + "/auth/google/login")
	if err != nil {
		t.Fatal(err)
	}
	testkit.Consent(t, browser, page, "ada@example.com", true).Body.Close()

	// Wait for the syncs and the contacts: Grace's two emails and four
	// past weekly meetings.
	graceRow := regexp.MustCompile(`(?s)<a href="/contacts/([0-9a-f-]{36})">Grace Hopper</a>.*?</tr>`)
	var body string
	deadline := time.Now().Add(90 * time.Second)
	for {
		var code int
		var h http.Header
		code, h, body = get(t, browser, base, "/")
		assertPage(t, "/", h, body)
		if code != http.StatusOK {
			t.Fatalf("GET /: %d\n%s", code, body)
		}
		row := graceRow.FindString(body)
		if strings.Count(body, `<td class="state">synced</td>`) == 2 && strings.Contains(row, `<td class="num">6</td><td class="num">1</td><td class="num">1</td><td class="num">4</td>`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the home page after 90s:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(body, "Signed in as <strong>ada@example.com</strong>") || !strings.Contains(body, `action="/auth/logout?returnTo=`) {
		t.Fatalf("the home page does not say who is signed in:\n%s", body)
	}
	if regexp.MustCompile(`<td>Mail</td><td class="state">synced</td><td>never</td>`).MatchString(body) {
		t.Fatalf("synced mail without a time:\n%s", body)
	}

	// The contacts in the order of their last interaction.
	rows, err := s.pool.Query(context.Background(), `select name from contacts order by last_interaction_at desc nulls last`)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		want = append(want, n)
	}
	var shown []string
	for _, m := range regexp.MustCompile(`<tr class="contact"><td><a href="/contacts/[0-9a-f-]{36}">([^<]*)</a>`).FindAllStringSubmatch(body, -1) {
		shown = append(shown, m[1])
	}
	if len(want) != len(sandboxPeople) || !slices.Equal(shown, htmlEscapedAll(want)) {
		t.Fatalf("contacts shown %q, want %q", shown, want)
	}

	// Grace's timeline: her emails and meetings, newest first.
	graceID := graceRow.FindStringSubmatch(body)[1]
	code, h, page2 := get(t, browser, base, "/contacts/"+graceID)
	assertPage(t, "/contacts/{id}", h, page2)
	if code != http.StatusOK || !strings.Contains(page2, "<h1>Grace Hopper</h1>") {
		t.Fatalf("GET /contacts/%s: %d\n%s", graceID, code, page2)
	}
	for _, want := range []string{
		`<td class="kind">email</td><td class="title">Lunch on Thursday?</td><td class="direction">received</td>`,
		`<td class="kind">email</td><td class="title">Re: Lunch on Thursday?</td><td class="direction">sent</td>`,
		`<td class="kind">meeting</td><td class="title">Weekly with Grace</td><td class="direction"></td>`,
	} {
		if !strings.Contains(page2, want) {
			t.Errorf("Grace's timeline lacks %s:\n%s", want, page2)
		}
	}
	var times []string
	for _, m := range regexp.MustCompile(`<time datetime="([^"]+)">`).FindAllStringSubmatch(page2, -1) {
		times = append(times, m[1])
	}
	if len(times) != 6 || !slices.IsSortedFunc(times, func(a, b string) int { return strings.Compare(b, a) }) {
		t.Fatalf("timeline times %v, want 6 newest first", times)
	}

	// A name with markup is shown as text.
	token := cookieValue(t, jar, base)
	created := createContact(t, base, token, `<b onmouseover="x()">Mallory</b>`)
	_, _, body = get(t, browser, base, "/")
	if strings.Contains(body, "<b onmouseover") || !strings.Contains(body, `&lt;b onmouseover=&#34;x()&#34;&gt;Mallory&lt;/b&gt;`) {
		t.Fatalf("a contact's name is not escaped:\n%s", body)
	}
	if code, _, _ := get(t, browser, base, "/contacts/"+created); code != http.StatusOK {
		t.Fatalf("a contact without a timeline: %d", code)
	}

	// Another user's contact is not found, and so is a malformed id.
	res, err := http.Post(base+"/auth/dev-login", "application/json", strings.NewReader(`{"email":"eve@example.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	var eve struct{ Token string }
	json.NewDecoder(res.Body).Decode(&eve)
	res.Body.Close()
	evesID := createContact(t, base, eve.Token, "Eve's friend")
	for _, id := range []string{evesID, "not-a-uuid", "00000000-0000-0000-0000-000000000000"} {
		code, h, body := get(t, browser, base, "/contacts/"+id)
		assertPage(t, "/contacts/{id}", h, body)
		if code != http.StatusNotFound || strings.Contains(body, "Eve") {
			t.Fatalf("GET /contacts/%s as Ada: %d\n%s", id, code, body)
		}
	}
	if _, _, body := get(t, browser, base, "/"); strings.Contains(body, "Eve") {
		t.Fatalf("Ada's home page shows Eve's contact:\n%s", body)
	}

	// The page's sign-out form comes back home, signed out.
	r, _ := http.NewRequest("POST", base+"/auth/logout?returnTo="+url.QueryEscape(base+"/"), nil)
	r.Header.Set("Origin", base)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err = browser.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Request.URL.String() != base+"/" || !strings.Contains(string(b), "Not signed in") {
		t.Fatalf("signing out: %d at %s\n%s", res.StatusCode, res.Request.URL, b)
	}
}

func htmlEscapedAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.NewReplacer("&", "&amp;", "'", "&#39;", "<", "&lt;", ">", "&gt;", `"`, "&#34;").Replace(n)
	}
	return out
}

func cookieValue(t *testing.T, jar http.CookieJar, base string) string {
	t.Helper()
	u, _ := url.Parse(base)
	for _, c := range jar.Cookies(u) {
		if c.Name == auth.CookieName {
			return c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// createContact creates a contact through the API with a Bearer token
// and returns its id.
func createContact(t *testing.T, base, token, name string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"name": name})
	r, _ := http.NewRequest("POST", base+"/v1/contacts", strings.NewReader(string(b)))
	r.Header.Set("Authorization", "Bearer "+token)
	r.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var c struct{ ID string }
	if err := json.NewDecoder(res.Body).Decode(&c); err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/contacts: %d %v", res.StatusCode, err)
	}
	return c.ID
}
