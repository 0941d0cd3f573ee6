// Package contactextraction is the contact-extraction job: the people of
// one synced email become the user's contacts.
package contactextraction

import (
	"context"
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

// Worker records the people of one email as the user's contacts, the
// addresses policy lets through. An email that is gone (deleted with its user, or by the user)
// leaves nothing to do. The jobs of one batch are read in one query and
// recorded in one transaction per user; when that fails, each job is
// recorded on its own, so that each has its own outcome.
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

// all extracts the contacts of the emails of a batch's jobs.
func (x *extractor) all(ctx context.Context, jobs []queue.Job, ps []contact.ExtractionJob) []error {
	out := make([]error, len(ps))
	if len(ps) == 1 {
		out[0] = x.one(ctx, ps[0])
		return out
	}
	refs := make([]email.Ref, len(ps))
	for i, p := range ps {
		refs[i] = email.Ref{UserID: p.UserID, EmailID: p.EmailID}
	}
	found, err := x.emails.ParticipantsAll(ctx, refs, x.policy)
	if err != nil {
		for i := range out {
			out[i] = fmt.Errorf("read %d emails: %w", len(ps), err)
		}
		return out
	}
	var users []uuid.UUID
	byUser := map[uuid.UUID][]int{}
	for i, p := range ps {
		if _, ok := found[p.EmailID]; !ok {
			x.log.InfoContext(ctx, "email gone; nothing to extract", "email_id", p.EmailID)
			continue
		}
		if byUser[p.UserID] == nil {
			users = append(users, p.UserID)
		}
		byUser[p.UserID] = append(byUser[p.UserID], i)
	}
	for _, user := range users {
		idx := byUser[user]
		ins := make([]contact.Interaction, len(idx))
		for k, i := range idx {
			ins[k] = interaction(ps[i].EmailID, found[ps[i].EmailID])
		}
		rec, err := x.contacts.RecordInteractions(ctx, user, ins)
		if err != nil {
			x.log.WarnContext(ctx, "contacts of a batch not recorded; recording each email alone", "emails", len(idx), "err", err)
			for _, i := range idx {
				out[i] = x.one(ctx, ps[i])
			}
			continue
		}
		for k, i := range idx {
			x.log.DebugContext(ctx, "contacts extracted", "email_id", ps[i].EmailID,
				"participants", len(ins[k].Participants), "linked", rec[k].Linked)
		}
	}
	return out
}

// one extracts the contacts of one job's email.
func (x *extractor) one(ctx context.Context, p contact.ExtractionJob) error {
	ex, err := x.emails.Participants(ctx, p.UserID, p.EmailID, x.policy)
	if errs.Is(err, errs.KindNotFound) {
		x.log.InfoContext(ctx, "email gone; nothing to extract", "email_id", p.EmailID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("read email %s: %w", p.EmailID, err)
	}
	in := interaction(p.EmailID, ex)
	rec, err := x.contacts.RecordInteraction(ctx, p.UserID, in)
	if errs.Is(err, errs.KindNotFound) {
		x.log.InfoContext(ctx, "email gone; nothing to extract", "email_id", p.EmailID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("record contacts of email %s: %w", p.EmailID, err)
	}
	x.log.DebugContext(ctx, "contacts extracted", "email_id", p.EmailID,
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
