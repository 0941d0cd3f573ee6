package contact

import (
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/errs"
)

// ExtractionJob is the contact-extraction job: it records the people of
// some of a user's emails as the user's contacts: EmailID's, and
// EmailIDs' (a synced page's, in one job).
type ExtractionJob struct {
	UserID  uuid.UUID `json:"userId"`
	EmailID uuid.UUID `json:"emailId,omitzero"`
	// EmailIDs are the emails of a page of synced mail, at most
	// MaxExtractionEmails.
	EmailIDs []uuid.UUID `json:"emailIds,omitempty"`
}

// MaxExtractionEmails bounds ExtractionJob.EmailIDs, so that a job's
// message stays well within SQS's 256 KiB.
const MaxExtractionEmails = 1000

// Emails are the job's emails: EmailID (when set), then EmailIDs.
func (p ExtractionJob) Emails() []uuid.UUID {
	if p.EmailID == uuid.Nil {
		return p.EmailIDs
	}
	return append([]uuid.UUID{p.EmailID}, p.EmailIDs...)
}

// Kind implements queue.Payload.
func (ExtractionJob) Kind() string { return catalog.ContactExtraction }

// Owner implements queue.Owned.
func (p ExtractionJob) Owner() uuid.UUID { return p.UserID }

// Validate implements queue.Payload.
func (p ExtractionJob) Validate() error {
	f := errs.Fields{}
	required(f, "userId", p.UserID)
	if len(p.EmailIDs) == 0 {
		required(f, "emailId", p.EmailID)
	}
	if len(p.EmailIDs) > MaxExtractionEmails {
		f.Add("emailIds", fmt.Sprintf("must have at most %d entries", MaxExtractionEmails))
	}
	for _, id := range p.EmailIDs {
		if id == uuid.Nil {
			f.Add("emailIds", "must not hold an empty id")
			break
		}
	}
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
