package api

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// Stream is the output of a route whose body is written as it is made
// rather than encoded from a value held in memory (an export of every row
// of a user): its writer encodes each part to the response as it goes.
// Over net/http the body goes out in chunks as it is written; through API
// Gateway (payload v2) a Lambda's answer is one buffered payload, so there
// a body larger than MaxEventPayload is refused (see ServeEvent). The body
// is gzip-compressed for a client that accepts it (browsers and most HTTP
// clients do): a JSON document of mail shrinks several times, so one of
// tens of megabytes still fits in a Lambda's answer.
type Stream struct {
	// Body is what huma calls to write the response; Handle sets it.
	Body func(huma.Context)

	contentType string
	headers     map[string]string
	write       func(ctx context.Context, open func() io.Writer) error
}

// Streamed returns a Stream whose body write writes, as contentType, with
// headers. write calls open once it has found that it can answer (the
// status goes out then, 200 or the route's Status); an error it returns
// before that is answered as any handler error is, one after it cuts the
// response short (over net/http the connection is closed without the
// body's end, so the client sees an incomplete response, never a complete
// but truncated one) and is logged.
func Streamed(contentType string, headers map[string]string, write func(ctx context.Context, open func() io.Writer) error) *Stream {
	return &Stream{contentType: contentType, headers: headers, write: write}
}

// bind makes s write through server srv with the route's status.
func (s *Stream) bind(srv *Server, status int) {
	s.Body = func(ctx huma.Context) { srv.stream(ctx, s, status) }
}

func (srv *Server) stream(ctx huma.Context, s *Stream, status int) {
	ctx.SetHeader("Cache-Control", "no-store")
	if status == 0 {
		status = http.StatusOK
	}
	ctx.AppendHeader("Vary", "Accept-Encoding")
	compress := acceptsGzip(ctx.Header("Accept-Encoding"))
	opened := false
	var body io.Writer
	var gz *gzipFlusher
	err := s.write(ctx.Context(), func() io.Writer {
		if !opened {
			opened = true
			for k, v := range s.headers {
				ctx.SetHeader(k, v)
			}
			ctx.SetHeader("Content-Type", s.contentType)
			body = ctx.BodyWriter()
			if compress {
				ctx.SetHeader("Content-Encoding", "gzip")
				gz = &gzipFlusher{Writer: gzip.NewWriter(body), next: body}
				body = gz
			}
			ctx.SetStatus(status)
		}
		return body
	})
	if err == nil && gz != nil {
		err = gz.Close()
	}
	switch {
	case err == nil:
	case !opened:
		srv.writeHumaError(ctx, err)
	default:
		if !errors.Is(err, errResponseTooLarge) && ctx.Context().Err() == nil {
			srv.log.ErrorContext(ctx.Context(), "response cut short", "err", err)
		}
		// net/http closes the connection without ending the body;
		// ServeEvent answers an error instead of the partial body.
		panic(http.ErrAbortHandler)
	}
}

// acceptsGzip reports whether an Accept-Encoding header value admits gzip:
// listed (or "*"), and not with q=0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != "gzip" && name != "*" {
			continue
		}
		if v, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(params)), "q="); ok {
			if q, err := strconv.ParseFloat(v, 64); err == nil && q == 0 {
				return false
			}
		}
		return true
	}
	return false
}

// gzipFlusher compresses a Stream's body; a Flush of the stream sends
// what is compressed so far, so the client can decompress it.
type gzipFlusher struct {
	*gzip.Writer
	next io.Writer
}

func (g *gzipFlusher) Flush() {
	g.Writer.Flush()
	if w, ok := g.next.(http.ResponseWriter); ok {
		http.NewResponseController(w).Flush()
	}
}

// Streams documents a Stream route's success: a body of contentType with
// the schema of the type of example.
func Streams(contentType string, example any) RouteOption {
	t := reflect.TypeOf(example)
	return func(r *Route) {
		r.streamDoc = func(op *huma.Operation, reg huma.Registry) {
			ok := op.Responses["200"]
			if ok == nil {
				ok = &huma.Response{Description: "OK"}
				op.Responses["200"] = ok
			}
			ok.Content = map[string]*huma.MediaType{contentType: {Schema: reg.Schema(t, true, "")}}
		}
	}
}
