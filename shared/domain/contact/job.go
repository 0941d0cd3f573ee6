package contact

import (
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/errs"
)

// ExtractionJob is the contact-extraction job: it records the people of
// one email as the user's contacts.
type ExtractionJob struct {
	UserID  uuid.UUID `json:"userId"`
	EmailID uuid.UUID `json:"emailId"`
}

// Kind implements queue.Payload.
func (ExtractionJob) Kind() string { return catalog.ContactExtraction }

// Owner implements queue.Owned.
func (p ExtractionJob) Owner() uuid.UUID { return p.UserID }

// Validate implements queue.Payload.
func (p ExtractionJob) Validate() error {
	f := errs.Fields{}
	required(f, "userId", p.UserID)
	required(f, "emailId", p.EmailID)
	return f.Err()
}

// EnrichmentJob is the enrichment job: it adds public details to one
// contact.
type EnrichmentJob struct {
	UserID    uuid.UUID `json:"userId"`
	ContactID uuid.UUID `json:"contactId"`
	// Sources limits the lookup to these sources; empty means all.
	Sources []string `json:"sources,omitempty"`
}

// MaxSources bounds EnrichmentJob.Sources.
const MaxSources = 10

// Kind implements queue.Payload.
func (EnrichmentJob) Kind() string { return catalog.Enrichment }

// Owner implements queue.Owned.
func (p EnrichmentJob) Owner() uuid.UUID { return p.UserID }

// Validate implements queue.Payload.
func (p EnrichmentJob) Validate() error {
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

func required(f errs.Fields, name string, id uuid.UUID) {
	if id == uuid.Nil {
		f.Add(name, "is required")
	}
}
