package api

import (
	"errors"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/valyala/fastjson"
)

// event is the part of an API Gateway HTTP API (payload v2) request
// event that a request is built from; the names are those of
// events.APIGatewayV2HTTPRequest.
type event struct {
	RawPath         string
	RawQueryString  string
	Cookies         []string
	Headers         map[string]string
	RequestContext  eventContext
	Body            string
	IsBase64Encoded bool
	// header, when set, is Headers already in net/http's form (as
	// decodeEvent builds it); Headers is then unused.
	header http.Header
}

type eventContext struct {
	RequestID  string
	DomainName string
	HTTP       eventHTTP
}

type eventHTTP struct {
	Method   string
	SourceIP string
}

// parsers parse the Lambda payloads; a parser reuses its memory.
var parsers fastjson.ParserPool

var errNotEvent = errors.New("payload is not an API Gateway HTTP API event")

// decodeEvent decodes the runtime's payload into ev. It reads only the
// fields a request is built from, and puts the headers straight into
// net/http's form, with one string per value and, for the headers
// gateways and clients commonly send, no string for the name: decoding
// the whole event with encoding/json cost about fifty allocations per
// request, most of them for fields no handler reads. The strings it
// reads share one allocation. A payload that is not a JSON object, or
// whose fields read here have the wrong JSON type, is an error, as it is
// for encoding/json.
func decodeEvent(payload []byte, ev *event) error {
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(payload)
	if err != nil {
		return err
	}
	if v.Type() != fastjson.TypeObject {
		return errNotEvent
	}
	// No string is longer, unescaped, than the payload, so all of them
	// fit in its length.
	var strs stringArena
	strs.b.Grow(len(payload))
	str := func(v *fastjson.Value, keys ...string) (string, error) {
		f := v.Get(keys...)
		if f == nil || f.Type() == fastjson.TypeNull {
			return "", nil
		}
		b, err := f.StringBytes()
		if err != nil {
			return "", errNotEvent
		}
		return strs.add(b), nil
	}
	var errs [7]error
	ev.RawPath, errs[0] = str(v, "rawPath")
	ev.RawQueryString, errs[1] = str(v, "rawQueryString")
	ev.Body, errs[2] = str(v, "body")
	if rc := v.Get("requestContext"); rc != nil && rc.Type() != fastjson.TypeNull {
		if rc.Type() != fastjson.TypeObject {
			return errNotEvent
		}
		ev.RequestContext.RequestID, errs[3] = str(rc, "requestId")
		ev.RequestContext.DomainName, errs[4] = str(rc, "domainName")
		ev.RequestContext.HTTP.Method, errs[5] = str(rc, "http", "method")
		ev.RequestContext.HTTP.SourceIP, errs[6] = str(rc, "http", "sourceIp")
	}
	if err := errors.Join(errs[:]...); err != nil {
		return errNotEvent
	}
	if b := v.Get("isBase64Encoded"); b != nil && b.Type() != fastjson.TypeNull {
		if ev.IsBase64Encoded, err = b.Bool(); err != nil {
			return errNotEvent
		}
	}
	if c := v.Get("cookies"); c != nil && c.Type() != fastjson.TypeNull {
		items, err := c.Array()
		if err != nil {
			return errNotEvent
		}
		if len(items) > 0 {
			ev.Cookies = make([]string, len(items))
		}
		for i, item := range items {
			if ev.Cookies[i], err = str(item); err != nil {
				return errNotEvent
			}
		}
	}
	if h := v.Get("headers"); h != nil && h.Type() != fastjson.TypeNull {
		o, err := h.Object()
		if err != nil {
			return errNotEvent
		}
		ev.header = make(http.Header, o.Len()+1)
		values := make([]string, 0, o.Len())
		var bad bool
		o.Visit(func(key []byte, v *fastjson.Value) {
			b, err := v.StringBytes()
			if err != nil {
				bad = true
				return
			}
			values = append(values, strs.add(b))
			n := len(values)
			ev.header[canonicalHeaderName(key)] = values[n-1 : n : n]
		})
		if bad {
			return errNotEvent
		}
	}
	return nil
}

// stringArena makes strings that share the memory of one strings.Builder.
type stringArena struct{ b strings.Builder }

func (a *stringArena) add(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	start := a.b.Len()
	a.b.Write(b)
	return a.b.String()[start:]
}

// knownHeaders are the canonical forms of the headers, in lower case as
// API Gateway delivers them, that requests commonly carry: canonicalising
// them takes no allocation.
var knownHeaders = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cache-Control",
		"Content-Length", "Content-Type", "Cookie", "Forwarded", "Host", "Idempotency-Key",
		"If-Match", "If-None-Match", "If-Modified-Since", "Origin", "Referer",
		"Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site", "User-Agent", "Via",
		"X-Amzn-Trace-Id", "X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto", "X-Request-Id",
	} {
		m[lower(k)] = k
	}
	return m
}()

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func canonicalHeaderName(key []byte) string {
	if c, ok := knownHeaders[string(key)]; ok {
		return c
	}
	return textproto.CanonicalMIMEHeaderKey(string(key))
}

func canonicalHeaderKey(k string) string {
	if c, ok := knownHeaders[k]; ok {
		return c
	}
	return http.CanonicalHeaderKey(k)
}
