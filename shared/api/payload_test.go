package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
)

// TestPayloadAsEncodingJSON: Invoke's payload is, byte for byte, what
// encoding/json without HTML escaping (the Lambda runtime's encoding)
// writes for the response value ServeEvent returns.
func TestPayloadAsEncodingJSON(t *testing.T) {
	tricky := "quote \" backslash \\ <html> & \x00\x01\x1f\x7f \b\f\n\r\t é 😀 \u2028\u2029 \ufffd"
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		body   string
	}{
		{"json", 200, http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"abc"}}, `{"id":"1","name":"Ada"}` + "\n"},
		{"no status, no header, no body", 0, http.Header{}, ""},
		{"tricky text", 404, http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "X-" + tricky: {tricky}}, tricky},
		{"invalid UTF-8 in headers", 200, http.Header{"X-Bad": {"a\xffb\xc3"}, "Content-Type": {"application/json"}}, "{}"},
		{"binary", 200, http.Header{"Content-Type": {"image/png"}}, "\x89PNG\r\n\x1a\n\x00\xff"},
		{"empty binary", 204, http.Header{"Content-Type": {"image/png"}}, ""},
		{"invalid UTF-8 in a text body", 200, http.Header{"Content-Type": {"text/html"}}, "a\xffb"},
		{"several values and cookies", 303, http.Header{
			"Location": {"/x"}, "Vary": {"Origin", "Cookie"}, "Set-Cookie": {"a=1; Path=/", `b="2"; HttpOnly`},
			"Allow": {}, "Cache-Control": {"no-store"},
		}, ""},
		{"many headers", 200, func() http.Header {
			h := http.Header{"Set-Cookie": {}}
			for _, k := range []string{"A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T"} {
				h.Set("X-"+k, k)
			}
			return h
		}(), "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newEventWriter()
			w.header = tc.header
			w.status = tc.status
			w.body.WriteString(tc.body)
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(w.encode()); err != nil {
				t.Fatal(err)
			}
			if got := w.appendPayload(nil); !bytes.Equal(got, want.Bytes()) {
				t.Errorf("payload\n%s\nencoding/json\n%s", got, want.Bytes())
			}
		})
	}
}
