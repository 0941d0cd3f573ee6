package email

import (
	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/errs"
)

// SyncJob is the email-sync job: it syncs one Google account's mail.
type SyncJob struct {
	UserID    uuid.UUID `json:"userId"`
	AccountID uuid.UUID `json:"accountId"`
	// Full re-reads the whole mailbox instead of the changes since the
	// last sync.
	Full bool `json:"full,omitempty"`
}

// Kind implements queue.Payload.
func (SyncJob) Kind() string { return catalog.EmailSync }

// Owner implements queue.Owned.
func (p SyncJob) Owner() uuid.UUID { return p.UserID }

// Validate implements queue.Payload.
func (p SyncJob) Validate() error {
	f := errs.Fields{}
	if p.UserID == uuid.Nil {
		f.Add("userId", "is required")
	}
	if p.AccountID == uuid.Nil {
		f.Add("accountId", "is required")
	}
	return f.Err()
}
