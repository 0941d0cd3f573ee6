package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"

	"github.com/personalcrm/core/shared/errs"
)

// EncodeCursor makes an opaque list cursor of a position.
func EncodeCursor(position any) string {
	b, err := json.Marshal(position)
	if err != nil {
		panic(err) // positions are plain structs
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads a cursor made by EncodeCursor into position.
// Errors: Invalid on the field "cursor".
func DecodeCursor(cursor string, position any) error {
	bad := errs.Field("cursor", "is not a valid cursor")
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return bad
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(position); err != nil || dec.More() {
		return bad
	}
	return nil
}
