package testkit

import (
	"bytes"
	"compress/gzip"
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

//go:embed testdata/apigw-v2-request.json
var apigwRequest []byte

// EventServer serves requests over both transports of shared/api.
type EventServer interface {
	http.Handler
	ServeEvent(ctx context.Context, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse
}

// invoker is aws-lambda-go's lambda.Handler, which an EventServer that
// decodes the runtime's payload itself implements.
type invoker interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// Transport sends a request to a server the way one of its transports does.
type Transport struct {
	Name string
	Do   func(t testing.TB, r *http.Request) *http.Response
}

// Transports are net/http and API Gateway HTTP API (payload v2), so one
// test table runs against both. The second goes through the server's
// Invoke when it has one, as the Lambda runtime does.
func Transports(s EventServer) []Transport {
	return []Transport{
		{Name: "http", Do: func(t testing.TB, r *http.Request) *http.Response {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, r)
			return rec.Result()
		}},
		{Name: "apigw", Do: func(t testing.TB, r *http.Request) *http.Response {
			ev := Event(t, r)
			// Through JSON, as the Lambda runtime delivers it.
			raw, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			if inv, ok := s.(invoker); ok {
				// The payload as the runtime hands it over, and the
				// response as the runtime sends it back.
				out, err := inv.Invoke(r.Context(), raw)
				if err != nil {
					t.Fatal(err)
				}
				var res events.APIGatewayV2HTTPResponse
				if err := json.Unmarshal(out, &res); err != nil {
					t.Fatal(err)
				}
				return Response(t, res)
			}
			var decoded events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &decoded); err != nil {
				t.Fatal(err)
			}
			return Response(t, s.ServeEvent(r.Context(), decoded))
		}},
	}
}

// Event turns r into the event API Gateway would deliver for it, based on
// a recorded HTTP API payload v2 event.
func Event(t testing.TB, r *http.Request) events.APIGatewayV2HTTPRequest {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(apigwRequest, &ev); err != nil {
		t.Fatal(err)
	}
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			t.Fatal(err)
		}
	}
	ev.RawPath = r.URL.Path
	ev.RawQueryString = r.URL.RawQuery
	ev.RequestContext.HTTP.Method = r.Method
	ev.RequestContext.HTTP.Path = r.URL.Path
	ev.RequestContext.RequestID = "req-" + randomHex(6)
	ev.Cookies = nil
	for k, vs := range r.Header {
		if strings.EqualFold(k, "Cookie") {
			for _, v := range vs {
				for _, c := range strings.Split(v, ";") {
					ev.Cookies = append(ev.Cookies, strings.TrimSpace(c))
				}
			}
			continue
		}
		ev.Headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	ev.Headers["content-length"] = strconv.Itoa(len(body))
	if utf8.Valid(body) {
		ev.Body = string(body)
	} else {
		ev.Body = base64.StdEncoding.EncodeToString(body)
		ev.IsBase64Encoded = true
	}
	return ev
}

// Response turns an API Gateway response into an http.Response.
func Response(t testing.TB, res events.APIGatewayV2HTTPResponse) *http.Response {
	t.Helper()
	h := http.Header{}
	for k, v := range res.Headers {
		h.Set(k, v)
	}
	for _, c := range res.Cookies {
		h.Add("Set-Cookie", c)
	}
	body := []byte(res.Body)
	if res.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(res.Body); err != nil {
			t.Fatal(err)
		}
	}
	out := &http.Response{StatusCode: res.StatusCode, Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}
	// As net/http's client does for the gzip it asked for (the recorded
	// event accepts gzip, as browsers do): decompressed, marked so.
	if strings.EqualFold(h.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("testkit: gzip body: %v", err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("testkit: gzip body: %v", err)
		}
		h.Del("Content-Encoding")
		out.Body, out.ContentLength, out.Uncompressed = io.NopCloser(bytes.NewReader(plain)), -1, true
	}
	return out
}

// Request builds a request with an optional JSON body and bearer token.
func Request(method, target, token string, body any) *http.Request {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			panic(err)
		}
		rd = bytes.NewReader(raw)
	}
	r := httptest.NewRequest(method, target, rd)
	if rd != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

// ReadJSON decodes a response body into v (a pointer) and returns the raw
// body too.
func ReadJSON(t testing.TB, res *http.Response, v any) []byte {
	t.Helper()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
	}
	return raw
}
