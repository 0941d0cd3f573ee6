package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// LambdaHandler adapts the server to API Gateway HTTP API (payload v2)
// events, typed as aws-lambda-go's events package has them.
func (s *Server) LambdaHandler() func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return s.ServeEvent(ctx, ev), nil
	}
}

// Invoke implements aws-lambda-go's lambda.Handler: it serves one API
// Gateway HTTP API (payload v2) event given as the runtime receives it,
// and returns the response as the runtime sends it (JSON without HTML
// escaping, as aws-lambda-go encodes a typed handler's result).
// platform.Lambda serves it.
//
// It decodes only the fields a request is built from (decodeEvent), not
// the whole events.APIGatewayV2HTTPRequest. A payload that is not such an
// event is an error, as it is for a typed handler.
func (s *Server) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var ev event
	if err := decodeEvent(payload, &ev); err != nil {
		return nil, err
	}
	w := s.serveEvent(ctx, &ev)
	defer w.release()
	return w.appendPayload(make([]byte, 0, w.body.Len()+256)), nil
}

// ServeEvent serves one API Gateway HTTP API (payload v2) request.
func (s *Server) ServeEvent(ctx context.Context, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	w := s.serveEvent(ctx, &event{
		RawPath: ev.RawPath, RawQueryString: ev.RawQueryString, Cookies: ev.Cookies, Headers: ev.Headers,
		RequestContext: eventContext{
			RequestID: ev.RequestContext.RequestID, DomainName: ev.RequestContext.DomainName,
			HTTP: eventHTTP{Method: ev.RequestContext.HTTP.Method, SourceIP: ev.RequestContext.HTTP.SourceIP},
		},
		Body: ev.Body, IsBase64Encoded: ev.IsBase64Encoded,
	})
	defer w.release()
	return w.encode()
}

// serveEvent serves ev and returns the response to give API Gateway.
func (s *Server) serveEvent(ctx context.Context, ev *event) *eventWriter {
	r, err := requestOf(ctx, ev)
	if err != nil {
		s.log.WarnContext(ctx, "bad event", "err", err)
		w := newEventWriter()
		writeEnvelope(w, &Envelope{status: http.StatusBadRequest, Body: ErrorBody{Code: CodeValidation, Message: "Malformed request"}})
		return w
	}
	w := newEventWriter()
	s.serveBuffered(w, r)
	return w.response(ctx, s.log)
}

// serveBuffered serves r into w, noting a response its handler cut short
// (http.ErrAbortHandler) instead of passing the panic on: nothing has
// reached the client yet, so an error can still be answered.
func (s *Server) serveBuffered(w *eventWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				panic(p)
			}
			w.aborted = true
		}
	}()
	s.ServeHTTP(w, r)
}

// MaxEventPayload is the largest response a Lambda behind API Gateway may
// give: Lambda's 6 MB limit on a synchronous invocation's payload, which
// is the API Gateway response event as JSON (its body escaped, or base64).
const MaxEventPayload = 6 << 20

// errResponseTooLarge stops a body that cannot fit in MaxEventPayload.
var errResponseTooLarge = errors.New("response body over the Lambda payload limit")

func requestOf(ctx context.Context, ev *event) (*http.Request, error) {
	var body []byte
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, err
		}
		body = b
	} else if ev.Body != "" {
		body = []byte(ev.Body)
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
	var rd io.Reader
	if len(body) > 0 {
		rd = bytes.NewReader(body)
	}
	r, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, err
	}
	if rd == nil {
		r.Body = http.NoBody
	}
	if ev.header != nil {
		r.Header = ev.header
	} else {
		// One slice holds every header's value, rather than one slice
		// each.
		r.Header = make(http.Header, len(ev.Headers)+1)
		values := make([]string, 0, len(ev.Headers))
		for k, v := range ev.Headers {
			values = append(values, v)
			r.Header[canonicalHeaderKey(k)] = values[len(values)-1 : len(values) : len(values)]
		}
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

// eventWriter collects a response for API Gateway, up to what Lambda can
// return.
type eventWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
	// max bounds the body, so that a body too large is refused as it
	// grows rather than after it has filled memory.
	max int
	// aborted: the handler cut the response short; tooLarge: it went
	// over max.
	aborted, tooLarge bool
}

// writers keeps the writers of answered events, their header map and body
// buffer ready for another response.
var writers = sync.Pool{New: func() any { return &eventWriter{header: http.Header{}, max: MaxEventPayload} }}

func newEventWriter() *eventWriter { return writers.Get().(*eventWriter) }

// maxPooledBody bounds the body buffer a released writer keeps.
const maxPooledBody = 64 << 10

// release hands w to another response. The caller has copied out what it
// needs: nothing may use w, its header or its body after.
func (w *eventWriter) release() {
	if w.body.Cap() > maxPooledBody {
		return
	}
	clear(w.header)
	w.body.Reset()
	w.status, w.max, w.aborted, w.tooLarge = 0, MaxEventPayload, false, false
	writers.Put(w)
}

func (w *eventWriter) Header() http.Header { return w.header }

func (w *eventWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.tooLarge || w.body.Len()+len(b) > w.max {
		w.tooLarge = true
		return 0, errResponseTooLarge
	}
	return w.body.Write(b)
}

func (w *eventWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

// response is the response to give API Gateway: w, unless its handler
// cut it short or it is over MaxEventPayload (which Lambda would refuse,
// and API Gateway answer with a bare 500); those are answered as an
// internal error instead, and logged.
func (w *eventWriter) response(ctx context.Context, log *slog.Logger) *eventWriter {
	if !w.aborted && !w.tooLarge && (w.body.Len() <= w.max/6 || payloadSize(w.encode()) <= w.max) {
		return w
	}
	if w.tooLarge || !w.aborted {
		log.ErrorContext(ctx, "response over the Lambda payload limit; answered as an error", "limit_bytes", w.max)
	}
	e := newEventWriter()
	e.header.Set("X-Request-Id", w.header.Get("X-Request-Id"))
	writeEnvelope(e, envelopeOf(nil))
	return e
}

// payloadSize is the size of res as the Lambda runtime sends it: JSON
// without HTML escaping (aws-lambda-go's default). Escaping can make a
// body up to six times longer, so only bodies over a sixth of the limit
// need measuring.
func payloadSize(res events.APIGatewayV2HTTPResponse) int {
	var n countingWriter
	enc := json.NewEncoder(&n)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(res); err != nil {
		return math.MaxInt
	}
	return int(n)
}

type countingWriter int

func (c *countingWriter) Write(b []byte) (int, error) {
	*c += countingWriter(len(b))
	return len(b), nil
}

func (w *eventWriter) encode() events.APIGatewayV2HTTPResponse {
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
