package sandbox_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/personalcrm/core/shared/sandbox"
	"github.com/personalcrm/core/shared/testkit"
)

// batchPart is one response of a batch answer.
type batchPart struct {
	id     string
	status int
	body   string
}

// TestSandboxGmailBatch: the batch endpoint speaks Google's format: a
// multipart/mixed body of application/http requests, with or without an
// HTTP version, answered in order with Content-ID response-<id>, each
// call made with the batch's Authorization and answered on its own (404
// for a message it does not have or another API's path).
// batchMailbox is the sandbox Google with a signed-in account whose
// mailbox is addr, and an access token of that account.
func batchMailbox(t *testing.T) (kit testkit.GoogleKit, addr, accessToken string) {
	t.Helper()
	pool := testkit.DB(t)
	kit = testkit.StartGoogleKit(t, pool, sandbox.GoogleOptions{})
	addr = "batch@mine.example"
	user, _, account := kit.Account(t, pool, addr)
	tok, err := kit.Tokens.Token(context.Background(), user, account)
	if err != nil {
		t.Fatal(err)
	}
	return kit, addr, tok.AccessToken
}

func TestSandboxGmailBatch(t *testing.T) {
	t.Parallel()
	kit, addr, token := batchMailbox(t)
	a := kit.Sandbox.AddMessage(addr, sandbox.GmailMessage{Snippet: "first", Headers: [][2]string{{"Subject", "One"}, {"X-Other", "x"}}})
	b := kit.Sandbox.AddMessage(addr, sandbox.GmailMessage{Snippet: "second"})
	body := "--B\r\nContent-Type: application/http\r\nContent-ID: <a1>\r\n\r\n" +
		"GET /gmail/v1/users/me/messages/" + a + "?format=metadata&metadataHeaders=Subject HTTP/1.1\r\n\r\n" +
		"--B\r\nContent-Type: application/http\r\nContent-ID: <missing>\r\n\r\n" +
		"GET /gmail/v1/users/me/messages/18c0000000000dead\r\n\r\n" +
		"--B\r\nContent-Type: application/http\r\nContent-ID: <people>\r\n\r\n" +
		"GET /v1/people:searchContacts?query=a&readMask=names\r\n\r\n" +
		"--B\r\nContent-Type: application/http\r\nContent-ID: <b2>\r\n\r\n" +
		"GET " + kit.Sandbox.URL() + "/gmail/v1/users/me/messages/" + b + "?format=minimal\r\n\r\n" +
		"--B--\r\n"
	res, parts := postBatch(t, kit.Sandbox.URL(), token, "multipart/mixed; boundary=B", body)
	if res.StatusCode != http.StatusOK || len(parts) != 4 {
		t.Fatalf("batch: %d, %d parts", res.StatusCode, len(parts))
	}
	want := []struct {
		id      string
		status  int
		message string
	}{{"response-a1", 200, a}, {"response-missing", 404, ""}, {"response-people", 404, ""}, {"response-b2", 200, b}}
	for i, w := range want {
		p := parts[i]
		var m struct {
			ID      string `json:"id"`
			Payload struct {
				Headers []map[string]string `json:"headers"`
			} `json:"payload"`
		}
		json.Unmarshal([]byte(p.body), &m)
		if p.id != w.id || p.status != w.status || m.ID != w.message {
			t.Errorf("part %d: %s %d %s; want %s %d %s", i, p.id, p.status, p.body, w.id, w.status, w.message)
		}
		if i == 0 && (len(m.Payload.Headers) != 1 || m.Payload.Headers[0]["name"] != "Subject") {
			t.Errorf("metadata headers: %+v", m.Payload.Headers)
		}
	}
	if n := kit.Sandbox.Calls("gmail " + a); n != 1 {
		t.Errorf("message read %d times", n)
	}
	if n := kit.Sandbox.Calls("gmail batch"); n != 1 {
		t.Errorf("%d batches", n)
	}

	// Each call checks the token: without one, each part is a 401.
	res, parts = postBatch(t, kit.Sandbox.URL(), "", "multipart/mixed; boundary=B", body)
	if res.StatusCode != http.StatusOK || len(parts) != 4 || parts[0].status != http.StatusUnauthorized {
		t.Fatalf("batch without a token: %d %+v", res.StatusCode, parts)
	}
}

// TestSandboxGmailBatchRefused: a body that is not a batch Google can
// read answers 400 INVALID_ARGUMENT, as Google does, and makes no call.
func TestSandboxGmailBatchRefused(t *testing.T) {
	t.Parallel()
	kit, addr, token := batchMailbox(t)
	id := kit.Sandbox.AddMessage(addr, sandbox.GmailMessage{Snippet: "first"})
	part := func(boundary string) string {
		return "--" + boundary + "\r\nContent-Type: application/http\r\nContent-ID: <1>\r\n\r\nGET /gmail/v1/users/me/messages/" + id + "\r\n\r\n"
	}
	var many strings.Builder
	for range 101 {
		many.WriteString(part("B"))
	}
	many.WriteString("--B--\r\n")
	for name, c := range map[string]struct{ contentType, body string }{
		"no boundary":       {"multipart/mixed", part("B") + "--B--\r\n"},
		"another boundary":  {"multipart/mixed; boundary=A", part("B") + "--B--\r\n"},
		"not multipart":     {"application/json", `{}`},
		"no parts":          {"multipart/mixed; boundary=B", "--B--\r\n"},
		"not a request":     {"multipart/mixed; boundary=B", "--B\r\nContent-Type: application/http\r\n\r\nhello\r\n--B--\r\n"},
		"not http":          {"multipart/mixed; boundary=B", "--B\r\nContent-Type: text/plain\r\n\r\nGET /gmail/v1/users/me/profile\r\n--B--\r\n"},
		"more than 100":     {"multipart/mixed; boundary=B", many.String()},
		"unclosed boundary": {"multipart/mixed; boundary=B", part("B")},
	} {
		res, body := postRaw(t, kit.Sandbox.URL(), token, c.contentType, c.body)
		var e googleErr
		json.Unmarshal(body, &e)
		if res.StatusCode != http.StatusBadRequest || e.Error.Status != "INVALID_ARGUMENT" ||
			!strings.HasPrefix(e.Error.Message, "Failed to parse batch request") {
			t.Errorf("%s: %d %s", name, res.StatusCode, body)
		}
	}
	if n := kit.Sandbox.Calls("gmail " + id); n != 0 {
		t.Errorf("refused batches read the message %d times", n)
	}
}

func postRaw(t *testing.T, base, token, contentType, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/batch/gmail/v1", strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

// postBatch posts a batch and reads its answer's parts.
func postBatch(t *testing.T, base, token, contentType, body string) (*http.Response, []batchPart) {
	t.Helper()
	res, b := postRaw(t, base, token, contentType, body)
	mediaType, params, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/mixed" {
		t.Fatalf("answer %d %q: %s", res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	mr := multipart.NewReader(strings.NewReader(string(b)), params["boundary"])
	var parts []batchPart
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ct := p.Header.Get("Content-Type"); ct != "application/http" {
			t.Fatalf("part of type %q", ct)
		}
		inner, err := http.ReadResponse(bufio.NewReader(p), nil)
		if err != nil {
			t.Fatal(err)
		}
		ib, _ := io.ReadAll(inner.Body)
		id := strings.Trim(p.Header.Get("Content-ID"), "<>")
		parts = append(parts, batchPart{id: id, status: inner.StatusCode, body: string(ib)})
	}
	return res, parts
}

// TestSandboxGmailBatchUnderAPath: served under a path, as the local
// server serves it, the sandbox takes the calls' paths with that prefix,
// as a client whose Gmail root URL has it writes them.
func TestSandboxGmailBatchUnderAPath(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String() + "/sandbox/google"
	g := sandbox.NewGoogle(sandbox.GoogleOptions{BaseURL: base})
	mux := http.NewServeMux()
	mux.Handle("/sandbox/google/", http.StripPrefix("/sandbox/google", g.Handler()))
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	body := "--B\r\nContent-Type: application/http\r\nContent-ID: <1>\r\n\r\n" +
		"GET /sandbox/google/gmail/v1/users/me/messages/18c0000000000001 HTTP/1.1\r\n\r\n" +
		"--B\r\nContent-Type: application/http\r\nContent-ID: <2>\r\n\r\n" +
		"GET /gmail/v2/users/me/messages/18c0000000000001 HTTP/1.1\r\n\r\n" +
		"--B--\r\n"
	// No token: a Gmail call is refused as unauthenticated, which a path
	// the sandbox does not serve is not.
	res, parts := postBatch(t, base, "", "multipart/mixed; boundary=B", body)
	if res.StatusCode != http.StatusOK || len(parts) != 2 || parts[0].status != http.StatusUnauthorized || parts[1].status != http.StatusNotFound {
		t.Fatalf("batch under a path: %d %+v", res.StatusCode, parts)
	}
	if n := g.Calls("gmail"); n != 1 {
		t.Errorf("%d Gmail calls", n)
	}
}
