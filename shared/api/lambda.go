package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/personalcrm/core/shared/logging"
)

// coldStart is true until the process's first invocation begins.
var coldStart atomic.Bool

func init() { coldStart.Store(true) }

// LambdaHandler adapts the server to API Gateway HTTP API (payload v2)
// events for function; pass it to lambda.Start.
func (s *Server) LambdaHandler(function string) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	fnAttr := slog.String("function", function)
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		cold := coldStart.Swap(false)
		ctx = logging.WithAttrs(ctx, fnAttr, slog.Bool("cold_start", cold))
		if cold && s.mon != nil {
			s.mon.ColdStart(ctx)
		}
		return s.ServeEvent(ctx, ev), nil
	}
}

// ServeEvent serves one API Gateway HTTP API (payload v2) request.
func (s *Server) ServeEvent(ctx context.Context, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	r, err := requestOf(ctx, ev)
	if err != nil {
		s.log.WarnContext(ctx, "bad event", "err", err)
		w := newEventWriter()
		writeEnvelope(w, &Envelope{status: http.StatusBadRequest, Body: ErrorBody{Code: CodeValidation, Message: "Malformed request"}})
		return w.response()
	}
	w := newEventWriter()
	s.ServeHTTP(w, r)
	return w.response()
}

func requestOf(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, err
		}
		body = b
	}
	path := ev.RawPath
	if path == "" {
		path = "/"
	}
	target := path
	if ev.RawQueryString != "" {
		target += "?" + ev.RawQueryString
	}
	method := ev.RequestContext.HTTP.Method
	if method == "" {
		method = http.MethodGet
	}
	if id := ev.RequestContext.RequestID; id != "" {
		ctx = withRequestID(ctx, id)
	}
	r, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range ev.Headers {
		r.Header[http.CanonicalHeaderKey(k)] = []string{v}
	}
	if len(ev.Cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	r.ContentLength = int64(len(body))
	r.RemoteAddr = ev.RequestContext.HTTP.SourceIP
	r.Host = ev.RequestContext.DomainName
	if r.Host == "" {
		r.Host = r.Header.Get("Host")
	}
	r.RequestURI = target
	return r, nil
}

// eventWriter collects a response for API Gateway.
type eventWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newEventWriter() *eventWriter { return &eventWriter{header: http.Header{}} }

func (w *eventWriter) Header() http.Header { return w.header }

func (w *eventWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

func (w *eventWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *eventWriter) response() events.APIGatewayV2HTTPResponse {
	res := events.APIGatewayV2HTTPResponse{StatusCode: w.status, Headers: make(map[string]string, len(w.header))}
	if res.StatusCode == 0 {
		res.StatusCode = http.StatusOK
	}
	for k, v := range w.header {
		if k == "Set-Cookie" {
			res.Cookies = append(res.Cookies, v...)
			continue
		}
		res.Headers[k] = strings.Join(v, ",")
	}
	b := w.body.Bytes()
	if textual(w.header.Get("Content-Type")) && utf8.Valid(b) {
		res.Body = string(b)
	} else if len(b) > 0 {
		res.Body = base64.StdEncoding.EncodeToString(b)
		res.IsBase64Encoded = true
	}
	return res
}

func textual(ct string) bool {
	ct = strings.ToLower(ct)
	return ct == "" || strings.HasPrefix(ct, "text/") || strings.Contains(ct, "json") || strings.Contains(ct, "xml") || strings.Contains(ct, "javascript")
}
