package queue

import (
	"bytes"
	"encoding/json"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/errs"
)

// Payload is the typed data of one job type, defined beside the code that
// enqueues or handles it. Kind is the job type's catalog name; Validate
// reports missing or malformed fields as Invalid.
type Payload interface {
	Kind() string
	Validate() error
}

// Owned is a payload that works for one user: the user may read the job's
// state, and the job goes when the user does.
type Owned interface {
	Owner() uuid.UUID
}

// Kinds are the job types, in catalog order.
func Kinds() []string {
	jobs := catalog.Jobs()
	out := make([]string, len(jobs))
	for i, fn := range jobs {
		out[i] = fn.Name
	}
	return out
}

// Known reports whether kind is a job type of the catalog.
func Known(kind string) bool {
	fn, ok := catalog.Lookup(kind)
	return ok && fn.Kind == catalog.Job
}

// ErrMalformed is the cause of every payload that cannot be decoded.
var ErrMalformed = errs.Field("payload", "is not valid job data")

// Decode reads a payload of type P from its JSON form and validates it.
// Errors: Invalid, for data that is not a JSON object of P's shape or
// fails P's validation.
func Decode[P Payload](b []byte) (P, error) {
	var p P
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return p, ErrMalformed
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, &errs.Error{Kind: errs.KindInvalid, Message: errs.InvalidMessage, Fields: ErrMalformed.Fields, Err: err}
	}
	if err := p.Validate(); err != nil {
		return p, err
	}
	return p, nil
}
