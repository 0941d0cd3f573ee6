package contact

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/queue"
)

// SourceGoogleContacts is the user's own Google Contacts, the one
// enrichment source so far.
const SourceGoogleContacts = "google-contacts"

var sources = []string{SourceGoogleContacts}

// Sources returns the enrichment sources.
func Sources() []string { return slices.Clone(sources) }

// CheckSources returns the sources an enrichment asks for, each once:
// every source when names is empty. Errors: Invalid (field "sources").
func CheckSources(names []string) ([]string, error) {
	if len(names) == 0 {
		return Sources(), nil
	}
	var out []string
	for _, n := range names {
		if !slices.Contains(sources, n) {
			return nil, errs.Field("sources", fmt.Sprintf("%q is not a source; the sources are %s", n, strings.Join(sources, ", ")))
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// NameFromEnrichment is the name source of a name found by enrichment.
// Like a name from mail, it never replaces a name the user set.
const NameFromEnrichment = "enrichment"

// Field sources: who set a contact's company, job title, phone or photo.
const (
	SetByUser       = "user"
	SetByEnrichment = "enrichment"
)

// MaxPhotoURL bounds a photo's URL, in bytes.
const MaxPhotoURL = 2048

// Found is what a source knows of a contact's person; an empty field is
// unknown.
type Found struct {
	Name, Company, JobTitle, Phone, PhotoURL string
}

// normalize trims the fields, shortens them to the contact's limits, and
// drops a photo URL that is not https.
func (f *Found) normalize() {
	clip := func(p *string, max int) {
		*p = strings.TrimSpace(*p)
		if utf8.RuneCountInString(*p) > max {
			*p = strings.TrimSpace(string([]rune(*p)[:max]))
		}
	}
	clip(&f.Name, MaxName)
	clip(&f.Company, MaxName)
	clip(&f.JobTitle, MaxName)
	clip(&f.Phone, MaxPhone)
	f.PhotoURL = strings.TrimSpace(f.PhotoURL)
	if u, err := url.Parse(f.PhotoURL); err != nil || u.Scheme != "https" || u.Host == "" || len(f.PhotoURL) > MaxPhotoURL {
		f.PhotoURL = ""
	}
}

// Enriched says what Enrich changed: the columns it filled or updated,
// and whether it wrote anything at all (the fields, or the record of the
// enrichment).
type Enriched struct {
	Fields  []string
	Changed bool
}

// enrichable is what Enrich reads of a contact.
type enrichable struct {
	Name         *string           `db:"name"`
	NameSource   *string           `db:"name_source"`
	Company      *string           `db:"company"`
	JobTitle     *string           `db:"job_title"`
	Phone        *string           `db:"phone"`
	PhotoURL     *string           `db:"photo_url"`
	FieldSources map[string]string `db:"field_sources"`
	EnrichedFrom *string           `db:"enriched_from"`
	Matched      *bool             `db:"enrichment_matched"`
}

// Enrich records what source found of the user's contact id (found nil:
// the source does not know the person), filling the details the user has
// not set themselves:
//
//   - the name, when it is empty or was taken from mail or an earlier
//     enrichment, unless the user set (or cleared) it;
//   - company, job title, phone and photo, when empty or filled by an
//     earlier enrichment, unless the user set (or cleared) them.
//
// Nothing is ever cleared: what the source no longer has stays. The
// contact records when and from where it was enriched, and whether the
// source matched. When nothing differs from what the contact holds,
// nothing is written (updated_at stays), so enriching twice changes
// nothing the second time. A change invalidates the user's cached reads.
// Errors: NotFound (also for another user's contact).
func (s *Service) Enrich(ctx context.Context, userID, id uuid.UUID, source string, found *Found) (Enriched, error) {
	var out Enriched
	err := db.InTx(ctx, s.db, func(tx db.Tx) error {
		out = Enriched{} // InTx may run this twice
		rows, err := tx.Query(ctx, `select name, name_source, company, job_title, phone, photo_url, field_sources,
			enriched_from, enrichment_matched from contacts where user_id = $1 and id = $2 for update`, userID, id)
		if err != nil {
			return db.Err(err, "contact")
		}
		cur, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[enrichable])
		if err != nil {
			return db.Err(err, "contact")
		}
		set, fieldSources, fields := enrichment(cur, found)
		matched := found != nil
		out.Fields = fields
		if len(fields) == 0 && deref(cur.EnrichedFrom) == source && cur.Matched != nil && *cur.Matched == matched {
			return nil
		}
		out.Changed = true
		fs, err := json.Marshal(fieldSources)
		if err != nil {
			return err
		}
		set = set.Set("enriched_from", source).Set("enrichment_matched", matched)
		sql := "update contacts set enriched_at = now(), updated_at = now(), field_sources = $3::jsonb"
		args := []any{userID, id, string(fs)}
		for _, v := range set {
			args = append(args, v.Value)
			sql += fmt.Sprintf(", %s = $%d", v.Column, len(args))
		}
		_, err = tx.Exec(ctx, sql+" where user_id = $1 and id = $2", args...)
		return db.Err(err, "contact")
	})
	if err != nil {
		return Enriched{}, err
	}
	if out.Changed {
		s.changed(ctx, userID)
	}
	return out, nil
}

// enrichment decides what found changes of cur: the columns to set, the
// field sources after the change, and the names of the changed columns.
func enrichment(cur enrichable, found *Found) (set db.Values, fieldSources map[string]string, fields []string) {
	fieldSources = map[string]string{}
	for k, v := range cur.FieldSources {
		fieldSources[k] = v
	}
	if found == nil {
		return nil, fieldSources, nil
	}
	f := *found
	f.normalize()
	nameSource := deref(cur.NameSource)
	if f.Name != "" && f.Name != deref(cur.Name) && nameSource != NameFromUser &&
		(empty(cur.Name) || nameSource == NameFromEmail || nameSource == NameFromEnrichment) {
		set = set.Set("name", f.Name).Set("name_source", NameFromEnrichment)
		fields = append(fields, "name")
	}
	for _, c := range []struct {
		col      string
		cur      *string
		newValue string
	}{
		{"company", cur.Company, f.Company},
		{"job_title", cur.JobTitle, f.JobTitle},
		{"phone", cur.Phone, f.Phone},
		{"photo_url", cur.PhotoURL, f.PhotoURL},
	} {
		by := fieldSources[c.col]
		if c.newValue == "" || c.newValue == deref(c.cur) || by == SetByUser || (!empty(c.cur) && by != SetByEnrichment) {
			continue
		}
		set = set.Set(c.col, c.newValue)
		fieldSources[c.col] = SetByEnrichment
		fields = append(fields, c.col)
	}
	return set, fieldSources, fields
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// EnrichKey is the singleton key of a contact's enrichment: one waits or
// runs per contact at a time.
func EnrichKey(id uuid.UUID) string { return "contact:" + id.String() }

// Enrichments takes requests to enrich contacts.
type Enrichments struct {
	queue *queue.Queue
}

// NewEnrichments returns the requests, enqueued on q.
func NewEnrichments(q *queue.Queue) *Enrichments { return &Enrichments{queue: q} }

// Request enqueues an enrichment of the user's contact id from sources
// (all when empty), through the outbox: while one of the contact waits or
// runs, that job is returned instead. Errors: Invalid (an unknown source),
// NotFound (also for another user's contact); for google-contacts,
// Forbidden when the user's Google account must be consented to again
// (*google.ReconsentError) or its grant leaves Contacts out
// (*google.NotGrantedError): the enrichment could only fail.
func (e *Enrichments) Request(ctx context.Context, userID, id uuid.UUID, names []string) (queue.Job, error) {
	srcs, err := CheckSources(names)
	if err != nil {
		return queue.Job{}, err
	}
	if len(names) == 0 {
		srcs = nil // all, also those added after it was enqueued
	}
	var j queue.Job
	err = e.queue.InTx(ctx, func(tx *queue.Tx) error {
		if err := db.Owned(ctx, tx, "contacts", "contact", userID, id); err != nil {
			return err
		}
		if len(srcs) == 0 || slices.Contains(srcs, SourceGoogleContacts) {
			if err := contactsGranted(ctx, tx, userID); err != nil {
				return err
			}
		}
		j, err = tx.Enqueue(ctx, EnrichmentJob{UserID: userID, ContactID: id, Sources: srcs}, queue.Singleton(EnrichKey(id)))
		return err
	})
	return j, err
}

// contactsGranted checks that the user's Google account, the one
// enrichment reads, can read their Google Contacts. A user without one is
// left to the job, which says so.
func contactsGranted(ctx context.Context, q db.Querier, userID uuid.UUID) error {
	var account uuid.UUID
	var gone bool
	var scope string
	err := q.QueryRow(ctx, `select id, needs_reconsent or refresh_token is null, coalesce(scope, '') from accounts
		where user_id = $1 and provider = $2 order by created_at limit 1`, userID, google.Provider).Scan(&account, &gone, &scope)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return db.Err(err, "Google account")
	case gone:
		return &google.ReconsentError{AccountID: account}
	case !google.Contacts.Granted(scope):
		return google.Contacts.NotGranted(account)
	}
	return nil
}
