// Package contactextraction is the contact-extraction job: the people of
// one synced email become the user's contacts.
package contactextraction

import (
	"context"
	"fmt"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
	"github.com/personalcrm/core/shared/queue/worker"
)

// New builds the contact-extraction worker of app's function: the
// extraction policy with the deployment's EXTRACT_IGNORE patterns, SQS as
// the queue.
func New(app *platform.App) (*worker.Worker, error) {
	return Worker(worker.DepsOf(app, sqsqueue.For(app)), email.WithIgnore(app.Config.ExtractIgnore...)), nil
}

// Worker records the people of one email as the user's contacts, the
// addresses policy lets through. An email that is gone (deleted with its user, or by the user)
// leaves nothing to do.
func Worker(d worker.Deps, policy email.Policy) *worker.Worker {
	emails := email.NewService(d.DB)
	contacts := contact.NewService(d.DB, contact.WithCache(d.Cache))
	log := d.Log
	if log == nil {
		log = logging.Discard()
	}
	h := func(ctx context.Context, job queue.Job, p contact.ExtractionJob) error {
		ex, err := emails.Participants(ctx, p.UserID, p.EmailID, policy)
		if errs.Is(err, errs.KindNotFound) {
			log.InfoContext(ctx, "email gone; nothing to extract", "email_id", p.EmailID)
			return nil
		}
		if err != nil {
			return fmt.Errorf("read email %s: %w", p.EmailID, err)
		}
		in := contact.Interaction{EmailID: p.EmailID, At: ex.Email.At(), Participants: make([]contact.Participant, len(ex.Participants))}
		for i, pt := range ex.Participants {
			in.Participants[i] = contact.Participant{Email: pt.Email, Name: pt.Name, Role: pt.Role}
		}
		rec, err := contacts.RecordInteraction(ctx, p.UserID, in)
		if errs.Is(err, errs.KindNotFound) {
			log.InfoContext(ctx, "email gone; nothing to extract", "email_id", p.EmailID)
			return nil
		}
		if err != nil {
			return fmt.Errorf("record contacts of email %s: %w", p.EmailID, err)
		}
		log.DebugContext(ctx, "contacts extracted", "email_id", p.EmailID,
			"participants", len(in.Participants), "linked", rec.Linked)
		return nil
	}
	return worker.New(catalog.MustLookup(catalog.ContactExtraction), d.DB, d.Backend, h, d.Options())
}
