package api

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// appendPayload appends to dst the response as the Lambda runtime sends
// it: the JSON of w.encode() exactly as encoding/json writes it without
// HTML escaping (aws-lambda-go's default), newline included. It writes
// the body straight from w, without the response value, its map of
// headers, or a copy of the body as a string.
func (w *eventWriter) appendPayload(dst []byte) []byte {
	status := w.status
	if status == 0 {
		status = 200
	}
	dst = append(dst, `{"statusCode":`...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, `,"headers":{`...)
	var names [16]string
	keys := names[:0]
	for k := range w.header {
		if k != "Set-Cookie" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys) // as encoding/json orders a map's keys
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendJSONString(dst, strings.Join(w.header[k], ","))
	}
	dst = append(dst, `},"multiValueHeaders":null,"body":`...)
	switch b := w.body.Bytes(); {
	case textual(w.header.Get("Content-Type")) && utf8.Valid(b):
		dst = appendJSONString(dst, b)
	case len(b) == 0:
		dst = append(dst, `""`...)
	default:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, b)
		dst = append(dst, `","isBase64Encoded":true`...)
	}
	dst = append(dst, `,"cookies":`...)
	if cookies := w.header["Set-Cookie"]; len(cookies) > 0 {
		dst = append(dst, '[')
		for i, c := range cookies {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, c)
		}
		dst = append(dst, ']')
	} else {
		dst = append(dst, "null"...)
	}
	return append(dst, "}\n"...)
}

// appendJSONString appends s as encoding/json writes a string without
// HTML escaping: quotes, backslashes and control characters escaped,
// invalid UTF-8 as U+FFFD, and U+2028 and U+2029 escaped.
func appendJSONString[T []byte | string](dst []byte, s T) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(len(s), i+utf8.UTFMax)]))
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
