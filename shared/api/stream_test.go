package api_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/testkit"
)

type modeInput struct {
	Mode string `query:"mode"`
}

// streamServer serves GET /v1/user/export as a Stream whose behaviour the
// query parameter mode picks; reached, when not nil, is closed once the
// first 64 KiB are written, and the handler waits for proceed before the
// rest.
func streamServer(t *testing.T, reached, proceed chan struct{}) (*api.Server, *testkit.Buffer) {
	logs := &testkit.Buffer{}
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	h := func(ctx context.Context, in *modeInput) (*api.Stream, error) {
		return api.Streamed("application/json", map[string]string{"Content-Disposition": `attachment; filename="x.json"`},
			func(ctx context.Context, open func() io.Writer) error {
				if in.Mode == "missing" {
					return errs.NotFound("user")
				}
				w := open()
				if _, err := io.WriteString(w, `{"data":"`); err != nil {
					return err
				}
				n := 4
				if in.Mode == "big" {
					n = 7 << 20 / len(chunk)
				}
				for i := range n {
					if _, err := w.Write(chunk); err != nil {
						return err
					}
					if i == 0 && reached != nil {
						if f, ok := w.(http.Flusher); ok {
							f.Flush()
						}
						close(reached)
						select {
						case <-proceed:
						case <-time.After(10 * time.Second):
							return errors.New("the client never saw the first part")
						}
					}
					if i == 1 && in.Mode == "fail" {
						return errors.New("the database went away " + secretText)
					}
				}
				_, err := io.WriteString(w, `"}`)
				return err
			}), nil
	}
	return api.NewServer(api.Options{Log: logging.New(logs, nil), Sessions: fakeSessions{token: "good-token-0123456789"}},
		api.Handle(catalog.UserExport, h, api.Streams("application/json", struct {
			Data string `json:"data"`
		}{}))), logs
}

func get(t *testing.T, url string) (*http.Response, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer good-token-0123456789")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res, body, err
}

// TestStreamGoesOutAsItIsWritten: over net/http the client reads the
// first part of a Stream's body while the handler still waits to write
// the rest.
func TestStreamGoesOutAsItIsWritten(t *testing.T) {
	reached, proceed := make(chan struct{}), make(chan struct{})
	s, _ := streamServer(t, reached, proceed)
	srv := httptest.NewServer(s)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/v1/user/export", nil)
	req.Header.Set("Authorization", "Bearer good-token-0123456789")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" || res.Header.Get("Cache-Control") != "no-store" ||
		res.Header.Get("Content-Disposition") == "" || res.ContentLength != -1 {
		t.Fatalf("%d %v (length %d)", res.StatusCode, res.Header, res.ContentLength)
	}
	first := make([]byte, 64<<10)
	if _, err := io.ReadFull(res.Body, first); err != nil {
		t.Fatal(err)
	}
	<-reached
	close(proceed)
	rest, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	if got, want := len(first)+len(rest), len(`{"data":""}`)+4*64<<10; got != want {
		t.Fatalf("body: %d bytes, want %d", got, want)
	}
}

func TestStreamErrors(t *testing.T) {
	s, logs := streamServer(t, nil, nil)
	srv := httptest.NewServer(s)
	defer srv.Close()
	tr := testkit.Transports(s)[1] // API Gateway

	// An error before the body: the envelope, on both transports.
	res, body, err := get(t, srv.URL+"/v1/user/export?mode=missing")
	if err != nil {
		t.Errorf("http, missing: %v", err)
	} else {
		if res.StatusCode != 404 {
			t.Errorf("http, missing: status %d, want 404", res.StatusCode)
		}
		if !strings.Contains(string(body), `"NOT_FOUND"`) {
			t.Errorf("http, missing: body %s, want NOT_FOUND", body)
		}
	}
	res = tr.Do(t, testkit.Request("GET", "/v1/user/export?mode=missing", "good-token-0123456789", nil))
	var env envelope
	testkit.ReadJSON(t, res, &env)
	if res.StatusCode != 404 || env.Error.Code != "NOT_FOUND" {
		t.Errorf("apigw, missing: %d %+v", res.StatusCode, env)
	}

	// An error midway: over net/http the body is cut short, never ended
	// as if whole; through API Gateway it is an internal error.
	// (Compressed, little of the body has gone out when it fails, so
	// the client may see the connection end before the headers.)
	req, _ := http.NewRequest("GET", srv.URL+"/v1/user/export?mode=fail", nil)
	req.Header.Set("Authorization", "Bearer good-token-0123456789")
	if res, err := http.DefaultClient.Do(req); err == nil {
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err == nil || bytes.HasSuffix(body, []byte(`"}`)) {
			t.Errorf("http, failing midway: a whole body (%d bytes), %v", len(body), err)
		}
	}
	res = tr.Do(t, testkit.Request("GET", "/v1/user/export?mode=fail", "good-token-0123456789", nil))
	raw := testkit.ReadJSON(t, res, &env)
	if res.StatusCode != 500 || env.Error.Code != "INTERNAL_ERROR" || strings.Contains(string(raw), "hunter2") {
		t.Errorf("apigw, failing midway: %d %s", res.StatusCode, raw)
	}
	if !strings.Contains(logs.String(), "response cut short") {
		t.Errorf("the failure is not logged: %s", logs)
	}

	// Over Lambda's payload limit: whole over net/http, an internal error
	// (not a truncated document) through API Gateway.
	res, body, err = get(t, srv.URL+"/v1/user/export?mode=big")
	if err != nil {
		t.Errorf("http, big: %v", err)
	} else {
		if res.StatusCode != 200 {
			t.Errorf("http, big: status %d, want 200", res.StatusCode)
		}
		if len(body) < api.MaxEventPayload {
			t.Errorf("http, big: %d bytes, want at least %d", len(body), api.MaxEventPayload)
		}
		if !bytes.HasSuffix(body, []byte(`"}`)) {
			t.Errorf("http, big: body does not end the object")
		}
	}
	// (A client that takes no compression.)
	r := testkit.Request("GET", "/v1/user/export?mode=big", "good-token-0123456789", nil)
	r.Header.Set("Accept-Encoding", "identity")
	res = tr.Do(t, r)
	raw = testkit.ReadJSON(t, res, &env)
	if res.StatusCode != 500 || env.Error.Code != "INTERNAL_ERROR" {
		t.Errorf("apigw, big: %d %.200s", res.StatusCode, raw)
	}
	if !strings.Contains(logs.String(), "over the Lambda payload limit") {
		t.Errorf("the refusal is not logged: %s", logs)
	}

	// The same body compressed, for a client that accepts gzip, fits.
	r = testkit.Request("GET", "/v1/user/export?mode=big", "good-token-0123456789", nil)
	r.Header.Set("Accept-Encoding", "br;q=1.0, gzip;q=0.8")
	res = tr.Do(t, r)
	if res.StatusCode != 200 || !res.Uncompressed || !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("apigw, big, gzip: %d, compressed %v, %v", res.StatusCode, res.Uncompressed, res.Header)
	}
	whole, err := io.ReadAll(res.Body)
	if err != nil {
		t.Errorf("apigw, big, gzip: %v", err)
	} else {
		if len(whole) < api.MaxEventPayload {
			t.Errorf("apigw, big, gzip: %d bytes, want at least %d", len(whole), api.MaxEventPayload)
		}
		if !bytes.HasPrefix(whole, []byte(`{"data":"x`)) {
			t.Errorf("apigw, big, gzip: body does not start the object: %.40q", whole)
		}
		if !bytes.HasSuffix(whole, []byte(`"}`)) {
			t.Errorf("apigw, big, gzip: body does not end the object")
		}
	}
}

// TestAcceptsGzip: the Accept-Encoding values that admit a gzip body.
func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"":                    false,
		"gzip":                true,
		"GZIP":                true,
		"deflate, gzip;q=0.5": true,
		"br, *":               true,
		"gzip;q=0":            false,
		"gzip; q=0.000":       false,
		"identity":            false,
		"x-gzip":              false,
	} {
		if got := api.AcceptsGzip(header); got != want {
			t.Errorf("AcceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}
