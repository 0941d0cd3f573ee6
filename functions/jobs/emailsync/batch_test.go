package emailsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/sandbox"
	"github.com/personalcrm/core/shared/testkit"
)

// batchFixture is a sandbox mailbox and a run reading it.
type batchFixture struct {
	kit  testkit.GoogleKit
	addr string
	run  *run
}

func newBatchFixture(t *testing.T) *batchFixture {
	t.Helper()
	ctx := context.Background()
	pool := testkit.DB(t)
	kit := testkit.StartGoogleKit(t, pool, sandbox.GoogleOptions{})
	addr := "batch@mine.example"
	user, _, account := kit.Account(t, pool, addr)
	client := kit.Client.APIClient(ctx, kit.Tokens, user, account)
	svc, err := gmail.NewService(ctx, option.WithHTTPClient(client), option.WithEndpoint(kit.Client.Endpoints().Gmail))
	if err != nil {
		t.Fatal(err)
	}
	r := &run{p: email.SyncJob{UserID: user, AccountID: account}, gmail: svc,
		batch: batchGetter{client: client, endpoint: kit.Client.Endpoints().Gmail}}
	return &batchFixture{kit: kit, addr: addr, run: r}
}

// deliver adds n messages, from Person 1 to Person n.
func (f *batchFixture) deliver(n int) []string {
	var ids []string
	for i := range n {
		sent := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		ids = append(ids, f.kit.Sandbox.AddMessage(f.addr, sandbox.GmailMessage{
			Snippet: fmt.Sprintf("Message %d", i+1),
			Headers: append(sandbox.MessageHeaders(fmt.Sprintf("Person %d <person%d@example.com>", i+1, i+1), "Owner <"+f.addr+">",
				fmt.Sprintf("Hello %d", i+1), sent), [2]string{"X-Not-Synced", "no"}),
		}))
	}
	return ids
}

// TestBatchGet: a batch reads each message's metadata, with the synced
// headers only, in the order asked, in one request whose calls count as
// Gmail calls each; a message deleted since it was listed (404) is left
// out, the others are not.
func TestBatchGet(t *testing.T) {
	t.Parallel()
	f := newBatchFixture(t)
	ids := f.deliver(7)
	asked := append(ids[:3:3], append([]string{"18c0000000000dead"}, ids[3:]...)...)
	msgs, unauthorized, err := f.run.batch.get(context.Background(), asked)
	if err != nil || len(unauthorized) != 0 {
		t.Fatalf("get: %v, unauthorized %v", err, unauthorized)
	}
	if len(msgs) != len(asked) || msgs[3] != nil {
		t.Fatalf("%d messages for %d asked, the deleted one %v", len(msgs), len(asked), msgs[3])
	}
	for i, m := range append(msgs[:3:3], msgs[4:]...) {
		if m == nil || m.Id != ids[i] || m.Snippet != fmt.Sprintf("Message %d", i+1) || m.Payload == nil {
			t.Fatalf("message %d: %+v", i, m)
		}
		var names []string
		for _, h := range m.Payload.Headers {
			names = append(names, h.Name)
		}
		if got := strings.Join(names, ","); got != "Date,From,To,Subject,Message-ID" {
			t.Errorf("message %d: headers %s", i, got)
		}
		if fs := f.run.fields(m); fs.Subject != fmt.Sprintf("Hello %d", i+1) || fs.SentAt == nil {
			t.Errorf("message %d: fields %+v", i, fs)
		}
	}
	if n := f.kit.Sandbox.Calls("gmail batch"); n != 1 {
		t.Errorf("%d batch requests", n)
	}
	if n := f.kit.Sandbox.Calls("gmail"); n != len(asked) {
		t.Errorf("%d Gmail calls for %d messages", n, len(asked))
	}

	// fetch: the deleted message is left out, as are drafts and spam.
	draft := f.kit.Sandbox.AddMessage(f.addr, sandbox.GmailMessage{LabelIDs: []string{"DRAFT"}})
	got, err := f.run.fetch(context.Background(), append(asked, draft))
	if err != nil || len(got) != len(ids) {
		t.Fatalf("fetch: %d messages of %d: %v", len(got), len(ids), err)
	}
}

// TestBatchGetPages: more messages than a batch takes are read in
// batches of batchSize, none left out.
func TestBatchGetPages(t *testing.T) {
	t.Parallel()
	f := newBatchFixture(t)
	ids := f.deliver(2*batchSize + 3)
	got, err := f.run.fetch(context.Background(), ids)
	if err != nil || len(got) != len(ids) {
		t.Fatalf("fetch: %d messages of %d: %v", len(got), len(ids), err)
	}
	for i, m := range got {
		if m.Id != ids[i] {
			t.Fatalf("message %d is %s, want %s", i, m.Id, ids[i])
		}
	}
	if n := f.kit.Sandbox.Calls("gmail batch"); n != 3 {
		t.Errorf("%d batch requests for %d messages", n, len(ids))
	}
}

// TestBatchGetRateLimited: a call Gmail rate limits inside a batch fails
// the whole with Gmail's error, its status and Retry-After, as a call of
// its own would, and fetch fails as the sync's rate limits do.
func TestBatchGetRateLimited(t *testing.T) {
	t.Parallel()
	for name, fail := range map[string]sandbox.GoogleFailure{
		"429":                       sandbox.GoogleRateLimited(10 * time.Minute),
		"403 userRateLimitExceeded": sandbox.GoogleUserRateLimited(10 * time.Minute),
	} {
		f := newBatchFixture(t)
		ids := f.deliver(4)
		fail.Times = 1
		f.kit.Sandbox.FailGmailWith(fail)
		_, _, err := f.run.batch.get(context.Background(), ids)
		var ge *googleapi.Error
		if !errors.As(err, &ge) || ge.Code != fail.Status || ge.Header.Get("Retry-After") != "600" {
			t.Errorf("%s: get: %v", name, err)
		}
		f.kit.Sandbox.FailGmailWith(fail)
		if _, err := f.run.fetch(context.Background(), ids); err == nil || !strings.HasPrefix(err.Error(), "Gmail is limiting requests; the sync will resume shortly") {
			t.Errorf("%s: fetch: %v", name, err)
		}
		// The failure spent, the batch reads them all.
		if got, err := f.run.fetch(context.Background(), ids); err != nil || len(got) != len(ids) {
			t.Errorf("%s: fetch again: %d of %d: %v", name, len(got), len(ids), err)
		}
	}
}

// TestBatchGetDown: a batch request that fails as a whole fails the
// fetch.
func TestBatchGetDown(t *testing.T) {
	t.Parallel()
	f := newBatchFixture(t)
	ids := f.deliver(3)
	f.kit.Sandbox.SetDown(true)
	_, _, err := f.run.batch.get(context.Background(), ids)
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != http.StatusServiceUnavailable {
		t.Fatalf("get: %v", err)
	}
	if got, err := f.run.fetch(context.Background(), ids); err == nil || len(got) != 0 {
		t.Fatalf("fetch while down: %d messages, %v", len(got), err)
	}
}

// TestBatchGetTokenEndedEarly: calls of a batch refused with 401 are
// made again on their own, which renews the access token.
func TestBatchGetTokenEndedEarly(t *testing.T) {
	t.Parallel()
	f := newBatchFixture(t)
	ids := f.deliver(3)
	if _, err := f.run.fetch(context.Background(), ids[:1]); err != nil {
		t.Fatal(err)
	}
	f.kit.Sandbox.RevokeAccessTokens(f.addr)
	got, err := f.run.fetch(context.Background(), ids)
	if err != nil || len(got) != len(ids) {
		t.Fatalf("fetch: %d messages of %d: %v", len(got), len(ids), err)
	}
	if n := f.kit.Sandbox.Calls("gmail " + ids[2]); n != 2 {
		t.Errorf("message read %d times, want in the batch and again on its own", n)
	}
}

// TestBatchGetIncompleteAnswer: a batch answer that leaves out a call,
// answers one twice or one not asked, is an error, never a message
// silently missing.
func TestBatchGetIncompleteAnswer(t *testing.T) {
	t.Parallel()
	message := func(id string) string {
		return "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n" + `{"id":"` + id + `","threadId":"` + id + `"}`
	}
	for name, answer := range map[string]func(w *multipart.Writer, ids []string){
		"one left out": func(w *multipart.Writer, ids []string) {
			for i := range ids[1:] {
				writePart(w, fmt.Sprintf("<response-call-%d>", i+1), message(ids[i+1]))
			}
		},
		"one twice": func(w *multipart.Writer, ids []string) {
			for i := range ids {
				writePart(w, fmt.Sprintf("<response-call-%d>", min(i, 1)), message(ids[min(i, 1)]))
			}
		},
		"one not asked": func(w *multipart.Writer, ids []string) {
			for i := range ids {
				writePart(w, fmt.Sprintf("<response-call-%d>", i+1), message(ids[i]))
			}
		},
		"another message": func(w *multipart.Writer, ids []string) {
			for i := range ids {
				writePart(w, fmt.Sprintf("<response-call-%d>", i), message(ids[0]))
			}
		},
		"none": func(w *multipart.Writer, ids []string) {},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			mr := multipart.NewReader(r.Body, params["boundary"])
			var ids []string
			for {
				p, err := mr.NextPart()
				if err != nil {
					break
				}
				line, _ := io.ReadAll(p)
				path := strings.Fields(string(line))[1]
				ids = append(ids, path[strings.LastIndexByte(path, '/')+1:strings.IndexByte(path, '?')])
			}
			mw := multipart.NewWriter(w)
			w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
			answer(mw, ids)
			mw.Close()
		}))
		b := batchGetter{client: srv.Client(), endpoint: srv.URL + "/"}
		msgs, _, err := b.get(context.Background(), []string{"18c0000000000001", "18c0000000000002", "18c0000000000003"})
		if !errors.Is(err, errBatchPart) {
			t.Errorf("%s: %d messages, error %v", name, len(msgs), err)
		}
		srv.Close()
	}
}

func writePart(w *multipart.Writer, id, body string) {
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", "application/http")
	h.Set("Content-ID", id)
	p, _ := w.CreatePart(h)
	io.WriteString(p, body)
}

// TestParseDate: parseDate answers what mail.ParseDate does.
func TestParseDate(t *testing.T) {
	t.Parallel()
	for _, v := range []string{
		"Mon, 02 Jan 2006 15:04:05 -0700", "Tue, 1 Jul 2025 09:00:00 +0000", "1 Jul 2025 09:00:00 +0000",
		"Tue, 01 Jul 2025 09:00:00 +0000 (UTC)", "Tue, 01 Jul 2025 09:00:00 GMT", "  Tue, 01 Jul 2025 09:00:00 +0200  ",
		"Tue, 01 Jul 2025 09:00 +0000", "yesterday", "",
	} {
		want, werr := mail.ParseDate(v)
		got, err := parseDate(v)
		if (err == nil) != (werr == nil) || !got.Equal(want) || got.Location().String() != want.Location().String() {
			t.Errorf("parseDate(%q) = %v, %v; mail.ParseDate %v, %v", v, got, err, want, werr)
		}
	}
}
