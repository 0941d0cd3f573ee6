package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/testkit"
)

// chromium is Debian's headless browser (CHROMIUM overrides where it is).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium is not installed (Debian: apt-get install chromium): the browser tests need it")
	return ""
}

// browserTools are the headless chromium and the node that runs the
// puppeteer-core scripts in testdata. The test is skipped without
// chromium or node_modules, and fails when node_modules lacks
// puppeteer-core.
func browserTools(t *testing.T) (exe, node string) {
	t.Helper()
	exe = chromium(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules")); err != nil {
		t.Skip("node_modules is absent: run `make tools` (npm ci) for puppeteer-core, which drives the browser")
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "puppeteer-core")); err != nil {
		t.Fatalf("puppeteer-core is not installed though node_modules is: run `make tools` (npm ci): %v", err)
	}
	node = filepath.Join(root, "node_modules", ".bin", "node")
	if _, err := os.Stat(node); err != nil {
		node = "node"
	}
	return exe, node
}

// listenLoopback opens a loopback port; its origin is http://localhost:<port>.
func listenLoopback(t *testing.T) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
}

func serve(t *testing.T, ln net.Listener, h http.Handler) {
	t.Helper()
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
}

// webAppPage is a web app's page: a sign-in link that asks to come back
// to this very page, and where the page is.
const webAppPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Web app</title></head><body>
<a id="signin" href="%s/auth/google/login?returnTo=%s">Sign in</a>
<p id="where"></p>
<script>document.getElementById('where').textContent = location.href;</script>
</body></html>`

// seen is a request the API answered: from which origin, with what
// status and CORS headers.
type seen struct {
	Method, Path, Origin string
	Status               int
	AllowOrigin          string // Access-Control-Allow-Origin
	AllowCredentials     string // Access-Control-Allow-Credentials
}

type apiLog struct {
	mu   sync.Mutex
	list []seen
}

func (rec *apiLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		rec.mu.Lock()
		rec.list = append(rec.list, seen{r.Method, r.URL.Path, r.Header.Get("Origin"), sw.status,
			w.Header().Get("Access-Control-Allow-Origin"), w.Header().Get("Access-Control-Allow-Credentials")})
		rec.mu.Unlock()
	})
}

func (rec *apiLog) find(method, path, origin string) []seen {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []seen
	for _, s := range rec.list {
		if s.Method == method && s.Path == path && s.Origin == origin {
			out = append(out, s)
		}
	}
	return out
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

type fetched struct {
	Status    int             `json:"status"`
	Body      json.RawMessage `json:"body"`
	RequestID string          `json:"requestId"`
	Error     string          `json:"error"`
}

// TestCrossOriginBrowser is a web app on another origin, in a real
// headless chromium: its page signs in through the sandbox Google with
// returnTo, lands back on itself and calls the API with credentials. The
// same page from an origin not on CORS_ORIGINS cannot read the API (no
// CORS headers) and its cookie-authenticated write is refused with 403.
func TestCrossOriginBrowser(t *testing.T) {
	exe, node := browserTools(t)

	apiLn, apiURL := listenLoopback(t)
	appLn, appURL := listenLoopback(t)
	otherLn, otherURL := listenLoopback(t)
	cfg, err := config.Load(context.Background(), function, config.WithEnv(map[string]string{
		"APP_ENV": "test", "DATABASE_URL": testkit.NewDatabase(t).OwnerURL, "AUTH_URL": apiURL, "AUTH_REDIRECT_URL": apiURL + "/",
		"CORS_ORIGINS": appURL,
	}))
	if err != nil {
		t.Fatal(err)
	}
	s, err := setup(context.Background(), cfg, logging.New(&testkit.Buffer{}, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.pool.Close)
	rec := &apiLog{}
	serve(t, apiLn, rec.wrap(s.handler))
	for _, origin := range []struct {
		ln  net.Listener
		url string
	}{{appLn, appURL}, {otherLn, otherURL}} {
		page := fmt.Sprintf(webAppPage, apiURL, strings.ReplaceAll(origin.url+"/app.html?signed-in=1", ":", "%3A"))
		serve(t, origin.ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/app.html" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, page)
		}))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "browser.mjs"))
	cmd.Env = append(os.Environ(), "CHROMIUM="+exe, "API="+apiURL, "APP="+appURL, "OTHER="+otherURL, "EMAIL=ada@example.com")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser: %v\n%s\n%s", err, stdout, stderr.String())
	}
	var got struct {
		Consent, Landed, Shown string
		List, Create           fetched
		OtherList, OtherCreate fetched
	}
	if err := json.Unmarshal(stdout, &got); err != nil {
		t.Fatalf("browser output: %v\n%s", err, stdout)
	}

	// Signed in through the sandbox and back on the page it started from.
	if !strings.HasPrefix(got.Consent, apiURL+"/sandbox/google/") {
		t.Fatalf("sign-in went to %s, want the sandbox Google", got.Consent)
	}
	if want := appURL + "/app.html?signed-in=1"; got.Landed != want || got.Shown != want {
		t.Fatalf("landed on %q (page says %q), want %q", got.Landed, got.Shown, want)
	}
	// The allowed origin reads and writes with the cookie.
	if got.List.Status != http.StatusOK || got.List.RequestID == "" || !strings.Contains(string(got.List.Body), `"items"`) {
		t.Fatalf("GET /v1/contacts from %s: %+v", appURL, got.List)
	}
	if got.Create.Status != http.StatusCreated || !strings.Contains(string(got.Create.Body), "Grace Hopper") {
		t.Fatalf("POST /v1/contacts from %s: %+v", appURL, got.Create)
	}
	for _, method := range []string{"OPTIONS", "GET", "POST"} {
		if r := rec.find(method, "/v1/contacts", appURL); len(r) != 1 || r[0].AllowOrigin != appURL || r[0].AllowCredentials != "true" {
			t.Fatalf("%s /v1/contacts from %s as the API answered it: %+v, want its origin allowed with credentials", method, appURL, r)
		}
	}

	// The other origin: the browser keeps the answer from the page...
	if got.OtherList.Error == "" || got.OtherList.Status != 0 {
		t.Fatalf("GET /v1/contacts from %s reached the page: %+v", otherURL, got.OtherList)
	}
	if r := rec.find("GET", "/v1/contacts", otherURL); len(r) != 1 || r[0].Status != http.StatusOK || r[0].AllowOrigin != "" || r[0].AllowCredentials != "" {
		t.Fatalf("GET /v1/contacts from %s as the API saw it: %+v (the browser sent the cookie, the answer had no CORS headers)", otherURL, r)
	}
	// ...and the API refuses its cookie-authenticated write.
	if got.OtherCreate.Error == "" {
		t.Fatalf("POST /v1/contacts from %s reached the page: %+v", otherURL, got.OtherCreate)
	}
	if r := rec.find("POST", "/v1/contacts", otherURL); len(r) != 1 || r[0].Status != http.StatusForbidden || r[0].AllowOrigin != "" {
		t.Fatalf("POST /v1/contacts from %s as the API saw it: %+v, want one 403", otherURL, r)
	}
	var names []string
	rows, err := s.pool.Query(context.Background(), `select coalesce(name, '') from contacts order by name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	if len(names) != 1 || names[0] != "Grace Hopper" {
		t.Fatalf("contacts: %v, want only the allowed origin's", names)
	}
}

// TestHomePageBrowser is a person on the local server's own pages in a
// real headless chromium: signed out, the home page offers the sandbox
// sign-in; after it, reloading the home page shows the contacts the
// background jobs find, Grace Hopper among them with her emails and
// meetings counted; her page shows both, newest first; the API reference
// lists the operations. Nothing the pages load is refused by their
// Content-Security-Policy.
func TestHomePageBrowser(t *testing.T) {
	exe, node := browserTools(t)
	apiLn, apiURL := listenLoopback(t)
	cfg, err := config.Load(context.Background(), function, config.WithEnv(map[string]string{
		"APP_ENV": "test", "DATABASE_URL": testkit.NewDatabase(t).OwnerURL, "AUTH_URL": apiURL, "AUTH_REDIRECT_URL": apiURL + "/",
	}))
	if err != nil {
		t.Fatal(err)
	}
	logs := &testkit.Buffer{}
	s, err := setup(context.Background(), cfg, logging.New(logs, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.pool.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the server's log:\n%s", logs.String())
			rows, err := s.pool.Query(context.Background(), `select kind, state, attempts, coalesce(error, ''), coalesce(last_error, '') from jobs order by created_at`)
			if err == nil {
				for rows.Next() {
					var k, st, e1, e2 string
					var n int
					rows.Scan(&k, &st, &n, &e1, &e2)
					t.Logf("job %s %s attempts=%d error=%q last_error=%q", k, st, n, e1, e2)
				}
			}
			var events, linked, links int
			s.pool.QueryRow(context.Background(), `select (select count(*) from calendar_events), (select count(*) from calendar_events where linked_at is not null), (select count(*) from event_contacts)`).Scan(&events, &linked, &links)
			t.Logf("calendar events %d, linked %d, event_contacts %d", events, linked, links)
		}
	})
	jobs, stop := context.WithCancel(context.Background())
	s.jobs.start(jobs)
	t.Cleanup(s.jobs.wait)
	t.Cleanup(stop)
	serve(t, apiLn, s.handler)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "home.mjs"))
	cmd.Env = append(os.Environ(), "CHROMIUM="+exe, "API="+apiURL, "EMAIL=ada@example.com", "WANT=6,1,1,4")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser: %v\n%s\n%s", err, stdout, stderr.String())
	}
	var got struct {
		SignedOut, Consent, Landed, Who string
		GraceCounts                     []string
		Contacts                        []string
		Sync                            [][]string
		Stylesheet                      string
		ContactURL, Heading             string
		Timeline                        []struct{ At, Kind, Title, Direction string }
		DocsURL                         string
		Operations                      int
		Console, Failed                 []string
	}
	if err := json.Unmarshal(stdout, &got); err != nil {
		t.Fatalf("browser output: %v\n%s", err, stdout)
	}
	t.Logf("browser: %s", stdout)
	if got.SignedOut != "Not signed in." || !strings.HasPrefix(got.Consent, apiURL+"/sandbox/google/") {
		t.Fatalf("signed out the home page said %q and its link went to %s", got.SignedOut, got.Consent)
	}
	if got.Landed != apiURL+"/" || !strings.Contains(got.Who, "ada@example.com") {
		t.Fatalf("landed on %s saying %q", got.Landed, got.Who)
	}
	// Interactions, emails sent, received, meetings.
	if !slices.Equal(got.GraceCounts, []string{"6", "1", "1", "4"}) {
		t.Fatalf("Grace Hopper's counts on the home page: %v (contacts: %v)", got.GraceCounts, got.Contacts)
	}
	for _, p := range sandboxPeople {
		if !slices.Contains(got.Contacts, p) {
			t.Errorf("the home page lacks %s: %v", p, got.Contacts)
		}
	}
	if len(got.Sync) != 2 || got.Sync[0][0] != "Mail" || got.Sync[1][0] != "Calendar" {
		t.Errorf("sync states: %v", got.Sync)
	}
	if got.Stylesheet != "960px" {
		t.Errorf("the stylesheet did not apply: body max-width %q", got.Stylesheet)
	}
	if !strings.HasPrefix(got.ContactURL, apiURL+"/contacts/") || got.Heading != "Grace Hopper" {
		t.Fatalf("Grace's page: %s %q", got.ContactURL, got.Heading)
	}
	kinds := map[string]int{}
	for i, it := range got.Timeline {
		kinds[it.Kind]++
		if i > 0 && it.At > got.Timeline[i-1].At {
			t.Errorf("timeline not newest first: %v", got.Timeline)
		}
	}
	if kinds["email"] != 2 || kinds["meeting"] != 4 {
		t.Fatalf("Grace's timeline: %+v, want 2 emails and 4 meetings", got.Timeline)
	}
	if got.DocsURL != apiURL+"/docs" || got.Operations < 20 {
		t.Fatalf("the API reference at %s lists %d operations", got.DocsURL, got.Operations)
	}
	if len(got.Console) > 0 || len(got.Failed) > 0 {
		t.Fatalf("console errors %v, failed requests %v", got.Console, got.Failed)
	}
}
