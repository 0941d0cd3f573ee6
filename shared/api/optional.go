package api

import (
	"bytes"
	"encoding/json"
	"reflect"

	"github.com/danielgtaylor/huma/v2"
)

// Optional is an input field that tells apart absent, null and a value, for
// partial updates with JSON merge patch semantics: absent leaves the field
// as it is, null clears it.
type Optional[T any] struct {
	// Set is true when the field was present in the input.
	Set bool
	// Null is true when it was present as null.
	Null  bool
	Value T
}

// UnmarshalJSON implements json.Unmarshaler.
func (o *Optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if bytes.Equal(b, []byte("null")) {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}

// Schema implements huma.SchemaProvider: T's schema, nullable.
func (o Optional[T]) Schema(r huma.Registry) *huma.Schema {
	s := r.Schema(reflect.TypeFor[T](), true, "")
	s.Nullable = true
	return s
}

// Ptr returns nil when the field is absent, a pointer to the zero value
// when it is null, and a pointer to the value otherwise: the shape domain
// updates take, where nil means "leave as it is".
func (o Optional[T]) Ptr() *T {
	if !o.Set {
		return nil
	}
	v := o.Value
	return &v
}
