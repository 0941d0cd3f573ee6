package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/testkit"
)

// TestDatabaseRestarts restarts PostgreSQL (`pg_ctl restart -m fast`, as
// an operator or an RDS reboot does) five times while people create and
// list contacts, two people sign in with Google and their mail syncs
// through the job consumers. Every answer is a success, a rate limit or
// a 503 with retryAfter, never a 500; every contact the API acknowledged
// is stored exactly once; health comes back after the last restart; and
// each sign-in's mail sync finds all its people.
func TestDatabaseRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and restarts a PostgreSQL server of its own")
	}
	t.Parallel()
	pg := testkit.StartPostgres(t)

	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	cfg, err := config.Load(context.Background(), function, config.WithEnv(map[string]string{
		"APP_ENV": "test", "DATABASE_URL": pg.URL("crm"), "AUTH_URL": base, "AUTH_REDIRECT_URL": base + "/",
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
	ts.Config.Handler = s.handler
	ts.Start()
	t.Cleanup(ts.Close)
	jobsCtx, stopJobs := context.WithCancel(context.Background())
	s.jobs.start(jobsCtx)
	t.Cleanup(s.jobs.wait)
	t.Cleanup(stopJobs)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server errors:\n%s", errorLines(logs.String()))
		}
	})

	rec := &answerLog{next: http.DefaultTransport, answers: map[string]map[int]int{}}
	client := &http.Client{Transport: rec, Timeout: 30 * time.Second}

	const writers = 12
	tokens := make([]string, writers)
	for i := range tokens {
		tokens[i] = devToken(t, client, base, fmt.Sprintf("writer%d@example.com", i))
	}

	// The load: writers create contacts, each with an address of its own;
	// a reader lists them and polls health.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopLoad)
	var mu sync.Mutex
	acked := map[string]string{} // email -> id of an acknowledged contact
	for w := range writers {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-time.After(300 * time.Millisecond):
				}
				email := fmt.Sprintf("w%d-%d@example.com", w, n)
				body := fmt.Sprintf(`{"name":"Writer %d #%d","email":%q}`, w, n, email)
				res, err := do(client, "POST", base+"/v1/contacts", tokens[w], body)
				if err != nil {
					t.Errorf("create contact: %v", err)
					return
				}
				if res.status == http.StatusCreated {
					var c struct{ ID string }
					json.Unmarshal(res.body, &c)
					mu.Lock()
					acked[email] = c.ID
					mu.Unlock()
				}
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := do(client, "GET", base+"/v1/contacts?limit=5", tokens[0], ""); err != nil {
				t.Errorf("list contacts: %v", err)
				return
			}
			if _, err := do(client, "GET", base+"/health", "", ""); err != nil {
				t.Errorf("health: %v", err)
				return
			}
		}
	})

	// The restarts, with a second of work between them.
	const restarts = 5
	restarted := make(chan struct{})
	started := make(chan struct{}, restarts)
	t.Cleanup(func() { <-restarted })
	go func() {
		defer close(restarted)
		for range restarts {
			time.Sleep(time.Second)
			started <- struct{}{}
			if err := pg.Restart(); err != nil {
				t.Error(err)
				return
			}
		}
	}()

	// Two people sign in, one as the first restart begins and one as the
	// third does; a sign-in that cannot complete is tried again, as the
	// page asks.
	var people []*http.Client
	received := 0
	for i, at := range []int{1, 3} {
		for ; received < at; received++ {
			<-started
		}
		if browser := signIn(t, client, base, fmt.Sprintf("person%d@example.com", i)); browser != nil {
			people = append(people, browser)
		}
	}
	<-restarted

	// Health is back within seconds of the last restart.
	healthy := false
	back := time.Now()
	for deadline := back.Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		res, err := do(client, "GET", base+"/health", "", "")
		if err != nil {
			t.Fatal(err)
		}
		if res.status == http.StatusOK {
			healthy = true
			t.Logf("health back %v after the last restart", time.Since(back).Round(time.Millisecond))
			break
		}
	}
	if !healthy {
		t.Errorf("health not back 5s after the last restart")
	}
	stopLoad()

	// Each person's sync finds the sandbox mailbox's people.
	for i, browser := range people {
		var got []string
		for deadline := time.Now().Add(40 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			got = contactNames(t, browser, base)
			if !slices.ContainsFunc(sandboxPeople, func(p string) bool { return !slices.Contains(got, p) }) {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("person %d: contacts %v 40s after the restarts, want %v", i, got, sandboxPeople)
				break
			}
		}
	}

	// Every job's outcome was recorded through the restarts: one left
	// running would wait out its lease before anyone retried it.
	for _, lost := range []string{"job outcome not recorded", "job done but not recorded"} {
		if strings.Contains(logs.String(), lost) {
			t.Errorf("a job's outcome was lost in a restart (%q)", lost)
		}
	}

	// Every acknowledged contact is there exactly once, with its id.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.URL("crm"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `select lower(email), id::text from contacts where email like 'w%@example.com'`)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string][]string{}
	for rows.Next() {
		var email, id string
		if err := rows.Scan(&email, &id); err != nil {
			t.Fatal(err)
		}
		stored[email] = append(stored[email], id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acked) < writers {
		t.Errorf("only %d contacts acknowledged: the load proves little", len(acked))
	}
	for email, id := range acked {
		if ids := stored[email]; len(ids) != 1 || ids[0] != id {
			t.Errorf("acknowledged contact %s (%s) stored as %v", email, id, ids)
		}
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	t.Logf("answers by route and status: %v", rec.answers)
	for route, byStatus := range rec.answers {
		for status, n := range byStatus {
			if status >= 300 && status < 400 || status < 300 || status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
				continue
			}
			t.Errorf("%s answered %d %d times", route, status, n)
		}
	}
	if rec.unavailable == 0 {
		t.Errorf("no request met the restarts: the test proves nothing")
	}
	for _, problem := range rec.problems {
		t.Error(problem)
	}
}

// answerLog counts the answers of every request by route and status, and
// checks that each 503 of the API says when to retry.
type answerLog struct {
	next        http.RoundTripper
	mu          sync.Mutex
	answers     map[string]map[int]int
	unavailable int
	problems    []string
}

func (r *answerLog) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := r.next.RoundTrip(req)
	if err != nil || strings.HasPrefix(req.URL.Path, "/sandbox/") {
		return res, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(strings.NewReader(string(body)))
	route := req.Method + " " + req.URL.Path
	if strings.HasPrefix(req.URL.Path, "/v1/contacts") {
		route = req.Method + " /v1/contacts"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.answers[route] == nil {
		r.answers[route] = map[int]int{}
	}
	r.answers[route][res.StatusCode]++
	if res.StatusCode != http.StatusServiceUnavailable {
		return res, nil
	}
	r.unavailable++
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		if !strings.Contains(string(body), "try again") {
			r.problems = append(r.problems, fmt.Sprintf("%s: a 503 page that does not say to try again:\n%s", route, body))
		}
		return res, nil
	}
	if route == "GET /health" {
		return res, nil // health's own report, not an error envelope
	}
	var env struct {
		Error struct {
			Code       string
			RetryAfter int
		}
	}
	json.Unmarshal(body, &env)
	after, _ := strconv.Atoi(res.Header.Get("Retry-After"))
	if env.Error.Code != "UNAVAILABLE" || env.Error.RetryAfter < 1 || after != env.Error.RetryAfter {
		r.problems = append(r.problems, fmt.Sprintf("%s: 503 without a retry time (Retry-After %q): %s", route, res.Header.Get("Retry-After"), body))
	}
	return res, nil
}

type answer struct {
	status int
	body   []byte
}

func do(c *http.Client, method, url, token, body string) (answer, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return answer{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return answer{res.StatusCode, b}, err
}

// devToken signs email in through the local server's token route.
func devToken(t *testing.T, c *http.Client, base, email string) string {
	t.Helper()
	res, err := do(c, "POST", base+"/auth/dev-login", "", fmt.Sprintf(`{"email":%q}`, email))
	if err != nil || res.status != http.StatusOK {
		t.Fatalf("dev-login %s: %d %s %v", email, res.status, res.body, err)
	}
	var out struct{ Token string }
	json.Unmarshal(res.body, &out)
	return out.Token
}

// signIn signs email in at the sandbox Google as a browser does, starting
// again while an attempt fails (at login, or on the callback's page), and
// returns the signed-in browser; nil when it never gets in.
func signIn(t *testing.T, c *http.Client, base, email string) *http.Client {
	t.Helper()
	for attempt := 1; attempt <= 30; attempt++ {
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Transport: c.Transport, Jar: jar, Timeout: c.Timeout}
		page, err := browser.Get(base + "/auth/google/login")
		if err != nil {
			t.Fatal(err)
		}
		// Google asks for consent again when the sign-in that got the
		// refresh token did not complete.
		for range 2 {
			if page.StatusCode != http.StatusOK || !strings.HasPrefix(page.Request.URL.Path, "/sandbox/") {
				break
			}
			page = testkit.Consent(t, browser, page, email, true)
		}
		page.Body.Close()
		if page.StatusCode == http.StatusOK && page.Request.URL.String() == base+"/" {
			return browser
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Errorf("%s could not sign in in 30 attempts", email)
	return nil
}

// contactNames lists the names of the signed-in browser's contacts.
func contactNames(t *testing.T, browser *http.Client, base string) []string {
	t.Helper()
	res, err := browser.Get(base + "/v1/contacts?limit=100")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var page struct {
		Items []struct{ Name *string }
	}
	if err := json.NewDecoder(res.Body).Decode(&page); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/contacts: %d %v", res.StatusCode, err)
	}
	var names []string
	for _, c := range page.Items {
		if c.Name != nil {
			names = append(names, *c.Name)
		}
	}
	return names
}

// errorLines are the lines of log s at level ERROR.
func errorLines(s string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, `"level":"ERROR"`) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}
