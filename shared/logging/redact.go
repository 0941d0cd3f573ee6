package logging

import (
	"encoding"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync"
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

// needsWork reports whether a must go through redact. It is false for the
// common attributes (simple kinds under harmless keys) so that they cost
// nothing.
func needsWork(a slog.Attr) bool {
	if Sensitive(a.Key) {
		return true
	}
	switch a.Value.Kind() {
	case slog.KindString:
		return credential(a.Value.String())
	case slog.KindLogValuer:
		return true
	case slog.KindGroup:
		for _, m := range a.Value.Group() {
			if needsWork(m) {
				return true
			}
		}
	case slog.KindAny:
		return anyNeedsWork(a.Value.Any())
	}
	return false
}

// anyNeedsWork reports whether x, the value of a KindAny attribute, must be
// walked. Values that marshal themselves are written as they are; errors too,
// unless their text is a credential.
func anyNeedsWork(x any) bool {
	switch x := x.(type) {
	case nil, json.Marshaler:
		return false
	case error:
		s, ok := errorText(x)
		return ok && credential(s)
	case encoding.TextMarshaler:
		return false
	}
	switch reflect.TypeOf(x).Kind() {
	case reflect.Map, reflect.Struct, reflect.Pointer, reflect.Slice, reflect.Array, reflect.Interface:
		return true
	case reflect.String:
		return credential(reflect.ValueOf(x).String())
	}
	return false
}

// redact returns a with every secret in its value replaced by Redacted.
func redact(a slog.Attr) slog.Attr {
	if Sensitive(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if credential(v.String()) {
			v = slog.StringValue(Redacted)
		}
	case slog.KindGroup:
		v = redactGroup(v)
	case slog.KindAny:
		if anyNeedsWork(v.Any()) {
			v = redactAny(v.Any())
		}
	}
	a.Value = v
	return a
}

func redactGroup(v slog.Value) slog.Value {
	as := v.Group()
	i := 0
	for i < len(as) && !needsWork(as[i]) {
		i++
	}
	if i == len(as) {
		return v
	}
	out := make([]slog.Attr, len(as))
	copy(out, as[:i])
	for ; i < len(as); i++ {
		out[i] = redact(as[i])
	}
	return slog.GroupValue(out...)
}

// redactAny returns a redacted copy of x built from maps, slices and simple
// values, which the JSON handler writes as it would have written x.
func redactAny(x any) (v slog.Value) {
	defer func() {
		if r := recover(); r != nil {
			v = slog.StringValue(fmt.Sprintf("!PANIC: %v", r))
		}
	}()
	if _, ok := x.(error); ok {
		return slog.StringValue(Redacted) // only errors whose text is a credential get here
	}
	var w walker
	return slog.AnyValue(w.walk(reflect.ValueOf(x), 0))
}

// errorText returns err.Error(), or false when it panics (typically a nil
// pointer), in which case the JSON handler prints its own placeholder.
func errorText(err error) (s string, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return err.Error(), true
}

// Markers written in place of what the walk does not copy.
const (
	maxDepth     = 16
	cycleMarker  = "[CYCLE]"
	depthMarker  = "[TOO DEEP]"
	unsupportedf = "[%s]"
)

// walker copies a value as encoding/json would see it, into map[string]any,
// []any and simple values, redacting secrets on the way.
type walker struct {
	// path holds the pointers, maps and slices from the root to the current
	// value, to stop at a cycle.
	path [maxDepth + 1]visit
	n    int
}

type visit struct {
	ptr uintptr
	len int
}

func (w *walker) enter(ptr uintptr, n int) bool {
	for _, v := range w.path[:w.n] {
		if v.ptr == ptr && v.len == n {
			return false
		}
	}
	w.path[w.n] = visit{ptr, n}
	w.n++
	return true
}

func (w *walker) leave() { w.n-- }

func (w *walker) walk(v reflect.Value, depth int) any {
	if !v.IsValid() {
		return nil
	}
	if depth > maxDepth {
		return depthMarker
	}
	k := v.Kind()
	if k == reflect.Interface || k == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		if k == reflect.Interface {
			return w.walk(v.Elem(), depth)
		}
	}

	t := v.Type()
	predeclared := t.Name() != "" && t.PkgPath() == "" // string, int...: no methods
	if !predeclared && v.CanInterface() {
		info := infoOf(t)
		kind := info.kind
		if kind == plain && info.ptrKind != plain && v.CanAddr() {
			// encoding/json also uses methods with a pointer receiver
			// when the value is addressable.
			v, kind = v.Addr(), info.ptrKind
		}
		switch kind {
		case logValuer:
			lv := v.Interface().(slog.LogValuer)
			return w.slogValue(slog.AnyValue(lv).Resolve(), depth)
		case selfMarshaler:
			return v.Interface()
		case errorValue:
			s, ok := errorText(v.Interface().(error))
			if !ok {
				return "<nil>"
			}
			if credential(s) {
				return Redacted
			}
			return s
		}
	}

	if (k == reflect.Map || k == reflect.Slice) && v.IsNil() {
		return nil // after the methods: a nil net.IP still marshals itself
	}
	switch k {
	case reflect.Pointer:
		if !w.enter(v.Pointer(), 0) {
			return cycleMarker
		}
		defer w.leave()
		return w.walk(v.Elem(), depth+1)
	case reflect.Struct:
		return w.structValue(v, t, depth)
	case reflect.Map:
		if !w.enter(v.Pointer(), 0) {
			return cycleMarker
		}
		defer w.leave()
		return w.mapValue(v, depth)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && infoOf(t.Elem()).kind == plain {
			return v.Bytes() // base64, as encoding/json writes it
		}
		if !w.enter(v.Pointer(), v.Len()) {
			return cycleMarker
		}
		defer w.leave()
		return w.seqValue(v, depth)
	case reflect.Array:
		return w.seqValue(v, depth)
	case reflect.String:
		if s := v.String(); !credential(s) {
			return s
		}
		return Redacted
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint()
	case reflect.Float32:
		return float32(v.Float())
	case reflect.Float64:
		return v.Float()
	case reflect.Complex64, reflect.Complex128:
		return strconv.FormatComplex(v.Complex(), 'g', -1, t.Bits())
	}
	// Channels, functions and unsafe pointers have no JSON form.
	return fmt.Sprintf(unsupportedf, t)
}

func (w *walker) structValue(v reflect.Value, t reflect.Type, depth int) any {
	fields := infoOf(t).fields()
	m := make(map[string]any, len(fields))
	for _, f := range fields {
		var fv reflect.Value
		if len(f.index) == 1 {
			fv = v.Field(f.index[0])
		} else {
			var err error
			if fv, err = v.FieldByIndexErr(f.index); err != nil {
				continue // through a nil embedded pointer
			}
		}
		if f.omitEmpty && empty(fv) || f.omitZero && zero(fv) {
			continue
		}
		if f.sensitive {
			m[f.name] = Redacted
			continue
		}
		m[f.name] = w.walk(fv, depth+1)
	}
	return m
}

func (w *walker) mapValue(v reflect.Value, depth int) any {
	m := make(map[string]any, v.Len())
	it := v.MapRange()
	for it.Next() {
		key := mapKey(it.Key())
		if Sensitive(key) {
			m[key] = Redacted
			continue
		}
		m[key] = w.walk(it.Value(), depth+1)
	}
	return m
}

func (w *walker) seqValue(v reflect.Value, depth int) any {
	s := make([]any, v.Len())
	for i := range s {
		s[i] = w.walk(v.Index(i), depth+1)
	}
	return s
}

// slogValue copies the resolved value of a LogValuer met inside a value.
func (w *walker) slogValue(v slog.Value, depth int) any {
	if depth > maxDepth {
		return depthMarker
	}
	switch v.Kind() {
	case slog.KindGroup:
		m := make(map[string]any, len(v.Group()))
		w.addGroup(m, v.Group(), depth)
		return m
	case slog.KindString:
		if credential(v.String()) {
			return Redacted
		}
		return v.String()
	case slog.KindAny:
		return w.walk(reflect.ValueOf(v.Any()), depth)
	}
	return v.Any()
}

func (w *walker) addGroup(m map[string]any, as []slog.Attr, depth int) {
	for _, a := range as {
		v := a.Value.Resolve()
		switch {
		case a.Key == "" && v.Kind() == slog.KindGroup:
			w.addGroup(m, v.Group(), depth) // inlined, as slog does
		case Sensitive(a.Key):
			m[a.Key] = Redacted
		default:
			m[a.Key] = w.slogValue(v, depth+1)
		}
	}
}

// mapKey names a map key as encoding/json does.
func mapKey(k reflect.Value) string {
	if k.Kind() == reflect.String {
		return k.String()
	}
	if k.CanInterface() {
		if tm, ok := k.Interface().(encoding.TextMarshaler); ok {
			if k.Kind() == reflect.Pointer && k.IsNil() {
				return ""
			}
			if b, err := tm.MarshalText(); err == nil {
				return string(b)
			}
		}
	}
	switch k.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(k.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(k.Uint(), 10)
	}
	if k.CanInterface() {
		return fmt.Sprint(k.Interface())
	}
	return k.Type().String()
}

// empty reports whether encoding/json's omitempty drops v.
func empty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64,
		reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// zero reports whether encoding/json's omitzero drops v.
func zero(v reflect.Value) bool {
	if v.CanInterface() {
		if z, ok := v.Interface().(interface{ IsZero() bool }); ok {
			if v.Kind() == reflect.Pointer && v.IsNil() {
				return true
			}
			return z.IsZero()
		}
	}
	return v.IsZero()
}

// Kinds of type, by how a walk treats its values.
const (
	plain         = iota // walked by reflect kind
	logValuer            // resolved first, as slog does
	selfMarshaler        // json.Marshaler or encoding.TextMarshaler: left as is
	errorValue           // written as its Error() text
)

var (
	logValuerType     = reflect.TypeFor[slog.LogValuer]()
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	errorType         = reflect.TypeFor[error]()
)

// typeInfo is what the walk needs to know about a type, computed once.
type typeInfo struct {
	t         reflect.Type
	kind      int // of t
	ptrKind   int // of *t, whose methods apply to addressable values of t
	once      sync.Once
	structFds []field
}

// field is a struct field as encoding/json writes it.
type field struct {
	index     []int
	name      string
	tagged    bool // named by its json tag
	sensitive bool
	omitEmpty bool
	omitZero  bool
}

// candidate is a field found at depth levels of embedding.
type candidate struct {
	field
	depth int
}

var typeInfos sync.Map // reflect.Type -> *typeInfo

func infoOf(t reflect.Type) *typeInfo {
	if ti, ok := typeInfos.Load(t); ok {
		return ti.(*typeInfo)
	}
	ti := &typeInfo{t: t, kind: kindOf(t)}
	if t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface {
		ti.ptrKind = kindOf(reflect.PointerTo(t))
	}
	actual, _ := typeInfos.LoadOrStore(t, ti)
	return actual.(*typeInfo)
}

func kindOf(t reflect.Type) int {
	switch {
	case t.Implements(logValuerType):
		return logValuer
	case t.Implements(jsonMarshalerType):
		return selfMarshaler
	case t.Implements(errorType):
		return errorValue
	case t.Implements(textMarshalerType):
		return selfMarshaler
	}
	return plain
}

func (ti *typeInfo) fields() []field {
	ti.once.Do(func() { ti.structFds = structFields(ti.t) })
	return ti.structFds
}

// structFields lists the fields encoding/json writes for struct type t:
// exported, not tagged "-", with the fields of untagged embedded structs
// promoted, the shallowest (or, among equals, the only tagged) winning a name.
func structFields(t reflect.Type) []field {
	var all []candidate
	visiting := map[reflect.Type]bool{}
	var collect func(t reflect.Type, index []int, depth int)
	collect = func(t reflect.Type, index []int, depth int) {
		visiting[t] = true
		defer delete(visiting, t)
		for i := range t.NumField() {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			idx := append(index[:len(index):len(index)], i)
			if sf.Anonymous {
				ft := sf.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if !sf.IsExported() && ft.Kind() != reflect.Struct {
					continue
				}
				if name == "" && ft.Kind() == reflect.Struct {
					if !visiting[ft] {
						collect(ft, idx, depth+1)
					}
					continue
				}
			} else if !sf.IsExported() {
				continue
			}
			f := field{index: idx, name: name, tagged: name != ""}
			if name == "" {
				f.name = sf.Name
			}
			for opts != "" {
				var opt string
				opt, opts, _ = strings.Cut(opts, ",")
				switch opt {
				case "omitempty":
					f.omitEmpty = true
				case "omitzero":
					f.omitZero = true
				}
			}
			f.sensitive = Sensitive(f.name)
			all = append(all, candidate{f, depth})
		}
	}
	collect(t, nil, 0)

	byName := map[string][]candidate{}
	for _, c := range all {
		byName[c.name] = append(byName[c.name], c)
	}
	var out []field
	for _, c := range all {
		if dominant(c, byName[c.name]) {
			out = append(out, c.field)
		}
	}
	return out
}

// dominant applies encoding/json's rule to c among the fields sharing its
// name: the shallowest wins, then the only tagged one among the shallowest;
// otherwise none is written.
func dominant(c candidate, rivals []candidate) bool {
	shallowest := c.depth
	for _, r := range rivals {
		shallowest = min(shallowest, r.depth)
	}
	if c.depth != shallowest {
		return false
	}
	n, tagged := 0, 0
	for _, r := range rivals {
		if r.depth == shallowest {
			n++
			if r.tagged {
				tagged++
			}
		}
	}
	return n == 1 || tagged == 1 && c.tagged
}
