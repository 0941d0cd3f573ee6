// Package contactextraction is the contact-extraction job: the people of
// one synced email become the user's contacts.
package contactextraction

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

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

// Worker records the people of a job's emails (one, or a synced page)
// as the user's contacts, the addresses policy lets through. An email
// that is gone (deleted with its user, or by the user) leaves nothing to
// do. The emails of one batch's jobs are read in one query and recorded
// in one transaction per user; when that fails, each job is recorded on
// its own, and a job that still fails has each of its emails recorded
// alone, so that an email that cannot be recorded holds up only its job.
// Recording is idempotent: a job run twice counts each email once.
func Worker(d worker.Deps, policy email.Policy) *worker.Worker {
	x := &extractor{
		emails:   email.NewService(d.DB),
		contacts: contact.NewService(d.DB, contact.WithCache(d.Cache)),
		policy:   policy,
		log:      d.Log,
	}
	if x.log == nil {
		x.log = logging.Discard()
	}
	return worker.NewBatched(catalog.MustLookup(catalog.ContactExtraction), d.DB, d.Backend, x.all, d.Options())
}

type extractor struct {
	emails   *email.Service
	contacts *contact.Service
	policy   email.Policy
	log      *slog.Logger
}

// all extracts the contacts of the emails of a batch's jobs: together,
// and when that fails, job by job, and a job's emails one by one, so that
// an email that cannot be recorded holds up only its own job.
func (x *extractor) all(ctx context.Context, _ []queue.Job, ps []contact.ExtractionJob) []error {
	out := x.record(ctx, ps)
	for i, err := range out {
		if err == nil || (len(ps) == 1 && len(ps[0].Emails()) == 1) {
			continue
		}
		if len(ps) > 1 {
			x.log.WarnContext(ctx, "contacts of a batch not recorded; recording each job alone", "jobs", len(ps), "err", err)
			if out[i] = x.record(ctx, ps[i:i+1])[0]; out[i] == nil {
				continue
			}
		}
		if emails := ps[i].Emails(); len(emails) > 1 {
			x.log.WarnContext(ctx, "contacts of a job not recorded; recording each email alone", "emails", len(emails), "err", out[i])
			var failed []error
			for _, id := range emails {
				if err := x.one(ctx, ps[i].UserID, id); err != nil {
					failed = append(failed, err)
				}
			}
			out[i] = errors.Join(failed...)
		}
	}
	return out
}

// record extracts the contacts of the emails of jobs ps in one read and
// one transaction per user, and returns an error per job: that of its
// user's transaction.
func (x *extractor) record(ctx context.Context, ps []contact.ExtractionJob) []error {
	out := make([]error, len(ps))
	var refs []email.Ref
	for _, p := range ps {
		for _, id := range p.Emails() {
			refs = append(refs, email.Ref{UserID: p.UserID, EmailID: id})
		}
	}
	if len(refs) == 1 {
		out[0] = x.one(ctx, refs[0].UserID, refs[0].EmailID)
		return out
	}
	found, err := x.emails.ParticipantsAll(ctx, refs, x.policy)
	if err != nil {
		for i := range out {
			out[i] = fmt.Errorf("read %d emails: %w", len(refs), err)
		}
		return out
	}
	var users []uuid.UUID
	byUser := map[uuid.UUID][]int{}
	for i, p := range ps {
		if byUser[p.UserID] == nil {
			users = append(users, p.UserID)
		}
		byUser[p.UserID] = append(byUser[p.UserID], i)
	}
	for _, user := range users {
		var ins []contact.Interaction
		for _, i := range byUser[user] {
			for _, id := range ps[i].Emails() {
				ex, ok := found[id]
				if !ok {
					x.log.InfoContext(ctx, "email gone; nothing to extract", "email_id", id)
					continue
				}
				ins = append(ins, interaction(id, ex))
			}
		}
		if len(ins) == 0 {
			continue
		}
		rec, err := x.contacts.RecordInteractions(ctx, user, ins)
		if err != nil {
			for _, i := range byUser[user] {
				out[i] = fmt.Errorf("record contacts of %d emails: %w", len(ins), err)
			}
			continue
		}
		for k, in := range ins {
			x.log.DebugContext(ctx, "contacts extracted", "email_id", in.EmailID,
				"participants", len(in.Participants), "linked", rec[k].Linked)
		}
	}
	return out
}

// one extracts the contacts of one email of userID.
func (x *extractor) one(ctx context.Context, userID, emailID uuid.UUID) error {
	ex, err := x.emails.Participants(ctx, userID, emailID, x.policy)
	if errs.Is(err, errs.KindNotFound) {
		x.log.InfoContext(ctx, "email gone; nothing to extract", "email_id", emailID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("read email %s: %w", emailID, err)
	}
	in := interaction(emailID, ex)
	rec, err := x.contacts.RecordInteraction(ctx, userID, in)
	if errs.Is(err, errs.KindNotFound) {
		x.log.InfoContext(ctx, "email gone; nothing to extract", "email_id", emailID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("record contacts of email %s: %w", emailID, err)
	}
	x.log.DebugContext(ctx, "contacts extracted", "email_id", emailID,
		"participants", len(in.Participants), "linked", rec.Linked)
	return nil
}

// interaction is the email id's exchange as the contacts record it.
func interaction(id uuid.UUID, ex email.Exchange) contact.Interaction {
	in := contact.Interaction{EmailID: id, At: ex.Email.At(), Participants: make([]contact.Participant, len(ex.Participants))}
	for i, pt := range ex.Participants {
		in.Participants[i] = contact.Participant{Email: pt.Email, Name: pt.Name, Role: pt.Role}
	}
	return in
}
