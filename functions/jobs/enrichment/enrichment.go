// Package enrichment is the enrichment job: it fills a contact's details from
// the user's own Google Contacts through the People API. It is a package
// of its own so that only the enrichment function links the People API
// client.
package enrichment

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/api/option"
	"google.golang.org/api/people/v1"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/feature"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/queue/sqsqueue"
	"github.com/personalcrm/core/shared/queue/worker"
)

// Options are what enrichment needs besides the workers' dependencies:
// Google's client, the accounts' tokens, and the environment's feature
// gates.
type Options struct {
	Google *google.Client
	Tokens *google.Tokens
	Gates  feature.Gates
}

// New builds the enrichment worker of app's function: Google and the
// token store as configured, SQS as the queue.
func New(app *platform.App) (*worker.Worker, error) {
	o, err := FromConfig(app.Config, app.DB)
	if err != nil {
		return nil, err
	}
	return Worker(worker.DepsOf(app, sqsqueue.For(app)), o), nil
}

// FromConfig builds the Options from the configuration. It does no I/O.
// Errors: a bad TOKEN_KEYS or Google configuration.
func FromConfig(cfg *config.Config, store google.Store) (Options, error) {
	g, tokens, err := google.TokensFromConfig(cfg, store)
	return Options{Google: g, Tokens: tokens, Gates: feature.GatesOf(cfg.Features)}, err
}

// readMask is what a search reads of each person: what a contact can
// take. (Their URLs are left out: a contact has nowhere to keep them.)
const readMask = "names,emailAddresses,organizations,phoneNumbers,photos"

// searchPageSize is how many people one search returns; an address
// matches few, but the query also matches addresses it is a prefix of.
const searchPageSize = 30

var (
	errNotConfigured = errors.New("enrichment has no Google client or token store")
	errNotEnabled    = queue.Permanent(errs.Forbidden("Enrichment is not enabled"))
)

type enricher struct {
	d        worker.Deps
	o        Options
	contacts *contact.Service
	settings *feature.Settings
}

// Worker enriches one contact per job from the sources its payload names
// (every source when none): for google-contacts, it searches the user's
// Google Contacts for the contact's email, and fills what the user has
// not set themselves (contact.Service.Enrich). A contact that is gone,
// or is not the user's, leaves nothing to do; a user without the
// enrichment feature, an unknown source, or a Google grant that is gone
// end the job; Google's rate limits and failures are retried.
func Worker(d worker.Deps, o Options) *worker.Worker {
	if d.Log == nil {
		d.Log = logging.Discard()
	}
	e := &enricher{
		d: d, o: o,
		contacts: contact.NewService(d.DB, contact.WithCache(d.Cache)),
		settings: feature.NewSettings(d.DB),
	}
	return worker.New(catalog.MustLookup(catalog.Enrichment), d.DB, d.Backend, e.run, d.Options())
}

func (e *enricher) run(ctx context.Context, job queue.Job, p contact.EnrichmentJob) error {
	srcs, err := contact.CheckSources(p.Sources)
	if err != nil {
		return queue.Permanent(err)
	}
	own, err := e.settings.Get(ctx, p.UserID)
	if errs.Is(err, errs.KindNotFound) {
		e.d.Log.InfoContext(ctx, "user gone; nothing to enrich")
		return nil
	}
	if err != nil {
		return err
	}
	if !feature.Evaluate(e.o.Gates, own).Enabled(feature.Enrichment) {
		return errNotEnabled
	}
	c, err := e.contacts.Get(ctx, p.UserID, p.ContactID)
	if errs.Is(err, errs.KindNotFound) {
		e.d.Log.InfoContext(ctx, "contact gone; nothing to enrich", "contact_id", p.ContactID)
		return nil
	}
	if err != nil {
		return err
	}
	for _, src := range srcs {
		// One source so far: google-contacts.
		found, err := e.googleContacts(ctx, p.UserID, c)
		if err != nil {
			return err
		}
		res, err := e.contacts.Enrich(ctx, p.UserID, c.ID, src, found)
		if errs.Is(err, errs.KindNotFound) {
			e.d.Log.InfoContext(ctx, "contact gone; nothing to enrich", "contact_id", p.ContactID)
			return nil
		}
		if err != nil {
			return fmt.Errorf("enrich contact %s: %w", c.ID, err)
		}
		e.d.Log.DebugContext(ctx, "contact enriched", "contact_id", c.ID, "source", src,
			"matched", found != nil, "fields", res.Fields, "changed", res.Changed)
	}
	return nil
}

// googleContacts finds the contact's person in the user's Google
// Contacts by the contact's email: nil when there is none.
//
// It searches (people.searchContacts) rather than listing every
// connection: one request (and its warm-up) per contact, however large
// the address book, where a list reads the whole book page by page. A
// search matches prefixes of words, so the results are checked for the
// exact address. Google asks for a search with an empty query first, to
// bring the search cache up to date.
func (e *enricher) googleContacts(ctx context.Context, userID uuid.UUID, c contact.Contact) (*contact.Found, error) {
	if e.o.Google == nil || e.o.Tokens == nil {
		return nil, errNotConfigured
	}
	if c.Email == nil || *c.Email == "" {
		return nil, nil
	}
	account, err := e.o.Tokens.AccountOf(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("the user's Google account: %w", err)
	}
	if _, err := e.o.Tokens.Token(ctx, userID, account); err != nil {
		return nil, fmt.Errorf("token of account %s: %w", account, err)
	}
	client := e.o.Google.APIClient(ctx, e.o.Tokens, userID, account)
	svc, err := people.NewService(ctx, option.WithHTTPClient(client), option.WithEndpoint(e.o.Google.Endpoints().People))
	if err != nil {
		return nil, fmt.Errorf("people client: %w", err)
	}
	peopleErr := func(what string, err error) error {
		err = google.APIError(google.Contacts, account, "Google Contacts is limiting requests; the enrichment will resume shortly", what, err)
		var ungranted *google.NotGrantedError
		if errors.As(err, &ungranted) {
			// The route refuses enrichments until the person grants
			// Contacts again.
			if uerr := e.o.Tokens.Ungrant(context.WithoutCancel(ctx), userID, account, google.Contacts); uerr != nil {
				e.d.Log.WarnContext(ctx, "account without Contacts not recorded", "account_id", account, "err", uerr)
			}
		}
		return err
	}
	if _, err := svc.People.SearchContacts().Query("").ReadMask(readMask).Context(ctx).Do(); err != nil {
		return nil, peopleErr("warm up the contact search", err)
	}
	res, err := svc.People.SearchContacts().Query(*c.Email).ReadMask(readMask).PageSize(searchPageSize).Context(ctx).Do()
	if err != nil {
		return nil, peopleErr("search the user's contacts", err)
	}
	for _, r := range res.Results {
		if r.Person != nil && hasEmail(r.Person, *c.Email) {
			return found(r.Person), nil
		}
	}
	return nil, nil
}

func hasEmail(p *people.Person, addr string) bool {
	for _, e := range p.EmailAddresses {
		if e != nil && strings.EqualFold(strings.TrimSpace(e.Value), addr) {
			return true
		}
	}
	return false
}

// found is what a person of Google Contacts tells of a contact: the
// primary (else first) name, organization and phone, and a photo that is
// not Google's default picture.
func found(p *people.Person) *contact.Found {
	var f contact.Found
	if n := primary(p.Names, func(n *people.Name) *people.FieldMetadata { return n.Metadata }); n != nil {
		f.Name = n.DisplayName
	}
	if o := primary(p.Organizations, func(o *people.Organization) *people.FieldMetadata { return o.Metadata }); o != nil {
		f.Company, f.JobTitle = o.Name, o.Title
	}
	if n := primary(p.PhoneNumbers, func(n *people.PhoneNumber) *people.FieldMetadata { return n.Metadata }); n != nil {
		f.Phone = n.Value
	}
	for _, ph := range p.Photos {
		if ph != nil && !ph.Default && ph.Url != "" {
			f.PhotoURL = ph.Url
			break
		}
	}
	return &f
}

// primary is the item marked primary, else the first; nil when none.
func primary[T any](items []*T, meta func(*T) *people.FieldMetadata) *T {
	var first *T
	for _, it := range items {
		if it == nil {
			continue
		}
		if m := meta(it); m != nil && m.Primary {
			return it
		}
		if first == nil {
			first = it
		}
	}
	return first
}
