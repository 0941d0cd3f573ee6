package logging

import (
	"encoding"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
)

// sensitiveSuffixes end the normalized keys of secrets: they cover the names
// password, token, accesstoken, refreshtoken, idtoken, sessiontoken, cookie,
// setcookie, secret, clientsecret and apikey, and others such as csrf_token.
var sensitiveSuffixes = [...]string{"token", "secret", "password", "apikey", "cookie"}

// maxKey bounds the normalized key kept for comparison; every listed key
// is shorter, so longer keys can only match by suffix.
const maxKey = 64

// Sensitive reports whether a value logged under key is a secret. The key is
// compared in lower case with '_', '-', '.' and spaces removed, so
// "access_token", "AccessToken" and "X-Api-Key" are all sensitive.
func Sensitive(key string) bool {
	// Normalize from the end into a fixed buffer: no allocation, and a long
	// key keeps the tail its suffix is checked on.
	var buf [maxKey]byte
	n := len(buf)
	whole := true
	for i := len(key) - 1; i >= 0; i-- {
		c := key[i]
		switch {
		case c == '_' || c == '-' || c == '.' || c == ' ':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if n == 0 {
			whole = false
			break
		}
		n--
		buf[n] = c
	}
	k := buf[n:]
	for _, s := range sensitiveSuffixes {
		if len(k) >= len(s) && string(k[len(k)-len(s):]) == s {
			return true
		}
	}
	if !whole {
		return false
	}
	// The names not already covered by a suffix.
	switch string(k) {
	case "passwd", "authorization", "proxyauthorization", "code", "authcode",
		"authorizationcode", "credentials", "privatekey":
		return true
	}
	return false
}

// credential reports whether s is an HTTP credential ("Bearer ...",
// "Basic ..."), which is a secret under any key.
func credential(s string) bool {
	return hasPrefixFold(s, "bearer ") || hasPrefixFold(s, "basic ")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// replaceAttr is the JSON handler's ReplaceAttr. slog calls it with every
// attribute, LogValuers resolved, inside groups too (groups names them),
// whether bound with With or given to a record.
func replaceAttr(groups []string, a slog.Attr) slog.Attr {
	if Sensitive(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	for _, g := range groups {
		if Sensitive(g) {
			return slog.String(a.Key, Redacted)
		}
	}
	switch a.Value.Kind() {
	case slog.KindString:
		if credential(a.Value.String()) {
			a.Value = slog.StringValue(Redacted)
		}
	case slog.KindAny:
		x := a.Value.Any()
		if l, ok := x.(slog.Level); ok && groups == nil && a.Key == slog.LevelKey {
			// A string, as slog writes it without ReplaceAttr; the
			// Level's JSON form would allocate at every record.
			return slog.String(a.Key, l.String())
		}
		if s, ok := replacement(x); ok {
			a.Value = slog.StringValue(s)
		}
	}
	return a
}

// replacement returns what to write instead of x, the value of a KindAny
// attribute, when x must not be written as it is: a credential, or a
// value whose fields could hold anything (a struct, map, pointer or
// slice), which is written as its type's name only. Such a value is
// logged as attributes of its own, or as a type with a LogValue method.
func replacement(x any) (string, bool) {
	switch x := x.(type) {
	case nil, *slog.Source:
		return "", false
	case error:
		s, ok := errorText(x)
		if ok && credential(s) {
			return Redacted, true
		}
		return "", false // a nil pointer: slog writes "<nil>"
	case json.Marshaler, encoding.TextMarshaler:
		return "", false // a uuid.UUID, a net.IP: its own JSON
	case []string:
		for _, s := range x {
			if credential(s) {
				return Redacted, true
			}
		}
		return "", false
	}
	v := reflect.ValueOf(x)
	switch k := v.Kind(); {
	case k == reflect.String:
		if credential(v.String()) {
			return Redacted, true
		}
		return "", false
	case scalar(k):
		return "", false
	case (k == reflect.Slice || k == reflect.Array) && scalar(v.Type().Elem().Kind()) && v.Type().Elem().Kind() != reflect.Uint8:
		return "", false // numbers or booleans; not bytes, which could be a key
	}
	return "[" + v.Type().String() + " not logged]", true
}

// scalar reports whether values of kind k are booleans or numbers.
func scalar(k reflect.Kind) bool {
	return k == reflect.Bool || reflect.Int <= k && k <= reflect.Float64
}

// errorText returns err.Error(), or false when it panics (typically a nil
// pointer).
func errorText(err error) (s string, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return err.Error(), true
}
