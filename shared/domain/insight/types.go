package insight

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/errs"
)

// Type is one kind of analysis: what it takes, what it asks the model and
// what it accepts as an answer.
type Type struct {
	// Name is the type's name in requests, jobs and insights.
	Name string
	// Summary says what the analysis does.
	Summary string
	// NeedsContact says the analysis is about one of the user's contacts,
	// named by contactId.
	NeedsContact bool
	// options checks the type's own options in Input.
	options func(in *Input, f errs.Fields)
	// prompt gathers what the model is told about userID's data.
	prompt func(ctx context.Context, s *Service, userID uuid.UUID, in Input) (Prompt, error)
	// check validates the model's answer and returns the insight's
	// content, normalized.
	check func(answer string) (json.RawMessage, error)
}

// Prompt is what the model is asked: its instructions and the user's
// data. It holds mail content: it is never logged above debug level.
type Prompt struct {
	System string
	User   string
	// Emails is how many emails it quotes.
	Emails int
}

// Input is an analysis's input, the data of its job: the contact it is
// about, if any, and the type's options.
type Input struct {
	ContactID *uuid.UUID `json:"contactId,omitempty"`
	Options
}

// Options are the options of the analysis types; each type takes only
// its own.
type Options struct {
	// Emails is how many of the contact's newest emails contact-summary
	// reads: 1 to MaxEmails, default MaxEmails.
	Emails int `json:"emails,omitempty"`
}

// types is the registry of analysis types, by name.
var types = []Type{contactSummary}

// Types returns every analysis type.
func Types() []Type { return slices.Clone(types) }

// Names lists the types' names.
func Names() []string {
	out := make([]string, len(types))
	for i, t := range types {
		out[i] = t.Name
	}
	return out
}

// Lookup returns the type called name.
func Lookup(name string) (Type, bool) {
	i := slices.IndexFunc(types, func(t Type) bool { return t.Name == name })
	if i < 0 {
		return Type{}, false
	}
	return types[i], true
}

// Parse checks a request for an analysis: its type, the contact it is
// about and the type's options (data, a JSON object, or empty). Problems
// are Invalid, per field as the request spells them (type, contactId,
// data.<option>). Whether the contact is the user's is not checked here.
func Parse(typeName string, contactID *uuid.UUID, data json.RawMessage) (Type, Input, error) {
	f := errs.Fields{}
	in := Input{ContactID: contactID}
	t, ok := Lookup(typeName)
	if !ok {
		f.Add("type", "must be one of "+strings.Join(Names(), ", "))
	}
	if d := bytes.TrimSpace(data); len(d) > 0 && string(d) != "null" {
		if err := decodeStrict(d, &in.Options); err != nil {
			f.Add(dataField(err), "is not an option of this analysis, or has the wrong type")
		}
	}
	if ok {
		check(t, &in, f)
	}
	return t, in, f.Err()
}

// Decode reads the input of a job of type typeName. Errors: Invalid, as
// Parse.
func Decode(typeName string, data json.RawMessage) (Type, Input, error) {
	f := errs.Fields{}
	var in Input
	t, ok := Lookup(typeName)
	if !ok {
		f.Add("type", "must be one of "+strings.Join(Names(), ", "))
	}
	if d := bytes.TrimSpace(data); len(d) > 0 && string(d) != "null" {
		if err := decodeStrict(d, &in); err != nil {
			f.Add("data", "is not the input of an analysis")
		}
	}
	if ok && len(f) == 0 {
		check(t, &in, f)
	}
	return t, in, f.Err()
}

// check applies t's rules to in.
func check(t Type, in *Input, f errs.Fields) {
	switch {
	case t.NeedsContact && in.ContactID == nil:
		f.Add("contactId", "is required for "+t.Name)
	case !t.NeedsContact && in.ContactID != nil:
		f.Add("contactId", "is not taken by "+t.Name)
	}
	if t.options != nil {
		t.options(in, f)
	}
}

// Data is the job data of in: a JSON object.
func (in Input) Data() json.RawMessage {
	b, _ := json.Marshal(in) // a struct of plain fields always marshals
	return b
}

func decodeStrict(b []byte, v any) error {
	if len(b) == 0 || b[0] != '{' {
		return fmt.Errorf("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// dataField names the option a decoding error is about: data.<name> for
// an unknown or mistyped option, else data.
func dataField(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return "data." + te.Field
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "data." + strings.Trim(name, `"`)
	}
	return "data"
}
