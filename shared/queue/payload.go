package queue

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/errs"
)

// Payload is the typed data of one job type. Kind is the job type's
// catalog name; Validate reports missing or malformed fields as Invalid.
type Payload interface {
	Kind() string
	Validate() error
}

// Owned is a payload that works for one user: the user may read the job's
// state, and the job goes when the user does.
type Owned interface {
	Owner() uuid.UUID
}

// EmailSync syncs one mail account.
type EmailSync struct {
	UserID    uuid.UUID `json:"userId"`
	AccountID uuid.UUID `json:"accountId"`
	// Full re-reads the whole mailbox instead of the changes since the
	// last sync.
	Full bool `json:"full,omitempty"`
}

// ContactExtraction finds the contacts of one email.
type ContactExtraction struct {
	UserID  uuid.UUID `json:"userId"`
	EmailID uuid.UUID `json:"emailId"`
}

// Enrichment adds public details to one contact.
type Enrichment struct {
	UserID    uuid.UUID `json:"userId"`
	ContactID uuid.UUID `json:"contactId"`
	// Sources limits the lookup to these sources; empty means all.
	Sources []string `json:"sources,omitempty"`
}

// AIAnalysis runs one kind of analysis for a user.
type AIAnalysis struct {
	UserID uuid.UUID `json:"userId"`
	// Type names the analysis ("contact-summary", ...).
	Type string `json:"type"`
	// Data is the analysis's input, a JSON object.
	Data json.RawMessage `json:"data,omitempty"`
}

// Kind implements Payload.
func (EmailSync) Kind() string { return catalog.EmailSync }

// Kind implements Payload.
func (ContactExtraction) Kind() string { return catalog.ContactExtraction }

// Kind implements Payload.
func (Enrichment) Kind() string { return catalog.Enrichment }

// Kind implements Payload.
func (AIAnalysis) Kind() string { return catalog.AIAnalysis }

// Owner implements Owned.
func (p EmailSync) Owner() uuid.UUID { return p.UserID }

// Owner implements Owned.
func (p ContactExtraction) Owner() uuid.UUID { return p.UserID }

// Owner implements Owned.
func (p Enrichment) Owner() uuid.UUID { return p.UserID }

// Owner implements Owned.
func (p AIAnalysis) Owner() uuid.UUID { return p.UserID }

// Validate implements Payload.
func (p EmailSync) Validate() error {
	f := errs.Fields{}
	required(f, "userId", p.UserID)
	required(f, "accountId", p.AccountID)
	return f.Err()
}

// Validate implements Payload.
func (p ContactExtraction) Validate() error {
	f := errs.Fields{}
	required(f, "userId", p.UserID)
	required(f, "emailId", p.EmailID)
	return f.Err()
}

// MaxSources bounds Enrichment.Sources.
const MaxSources = 10

// Validate implements Payload.
func (p Enrichment) Validate() error {
	f := errs.Fields{}
	required(f, "userId", p.UserID)
	required(f, "contactId", p.ContactID)
	if len(p.Sources) > MaxSources {
		f.Add("sources", fmt.Sprintf("must have at most %d entries", MaxSources))
	}
	for _, s := range p.Sources {
		if strings.TrimSpace(s) == "" || len(s) > 64 {
			f.Add("sources", "must be names of 1 to 64 characters")
			break
		}
	}
	return f.Err()
}

// MaxAnalysisData bounds AIAnalysis.Data, in bytes.
const MaxAnalysisData = 64 << 10

// Validate implements Payload.
func (p AIAnalysis) Validate() error {
	f := errs.Fields{}
	required(f, "userId", p.UserID)
	if t := strings.TrimSpace(p.Type); t == "" || len(t) > 64 {
		f.Add("type", "must be a name of 1 to 64 characters")
	}
	if len(p.Data) > 0 {
		switch d := bytes.TrimSpace(p.Data); {
		case len(d) > MaxAnalysisData:
			f.Add("data", fmt.Sprintf("must be at most %d bytes", MaxAnalysisData))
		case string(d) != "null" && (len(d) == 0 || d[0] != '{' || !json.Valid(d)):
			f.Add("data", "must be a JSON object")
		}
	}
	return f.Err()
}

func required(f errs.Fields, name string, id uuid.UUID) {
	if id == uuid.Nil {
		f.Add(name, "is required")
	}
}

// decoders decode the payload of each job type by kind.
var decoders = map[string]func([]byte) (Payload, error){
	catalog.EmailSync:         decoder[EmailSync](),
	catalog.ContactExtraction: decoder[ContactExtraction](),
	catalog.Enrichment:        decoder[Enrichment](),
	catalog.AIAnalysis:        decoder[AIAnalysis](),
}

// Register adds the payload type P, declared beside its job's handler
// (at package initialisation), to the kinds the queue knows.
func Register[P Payload]() {
	var p P
	decoders[p.Kind()] = decoder[P]()
}

func decoder[P Payload]() func([]byte) (Payload, error) {
	return func(b []byte) (Payload, error) {
		p, err := Decode[P](b)
		return p, err
	}
}

// Kinds are the job types of the catalog, in catalog order. Most have
// their payload here; the others Register theirs.
func Kinds() []string {
	var out []string
	for _, fn := range catalog.Jobs() {
		out = append(out, fn.Name)
	}
	return out
}

// Known reports whether kind is a job type with a payload.
func Known(kind string) bool {
	_, ok := decoders[kind]
	return ok
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

// DecodeKind reads the payload of the job type kind.
// Errors: Invalid, as Decode, or for a kind without a payload type.
func DecodeKind(kind string, b []byte) (Payload, error) {
	d, ok := decoders[kind]
	if !ok {
		return nil, errs.Field("kind", fmt.Sprintf("%q is not a job type", kind))
	}
	return d(b)
}
