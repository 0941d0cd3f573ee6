// Package contacts serves the contact routes: the wire shapes of a contact
// and one handler per route, each calling one method of the contact domain.
package contacts

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/personalcrm/core/functions/routes/jobs"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/auth"
	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/feature"
	"github.com/personalcrm/core/shared/queue"
)

// Contact is a contact on the wire.
type Contact struct {
	ID                 uuid.UUID  `json:"id" format:"uuid"`
	Email              *string    `json:"email" nullable:"true" format:"email"`
	Name               *string    `json:"name" nullable:"true"`
	Company            *string    `json:"company" nullable:"true"`
	JobTitle           *string    `json:"jobTitle" nullable:"true"`
	Phone              *string    `json:"phone" nullable:"true"`
	Notes              *string    `json:"notes" nullable:"true"`
	InteractionCount   int        `json:"interactionCount" doc:"Emails exchanged and meetings held with this contact"`
	LastInteractionAt  *time.Time `json:"lastInteractionAt" nullable:"true" doc:"When the latest of those emails was sent or meetings started"`
	FirstInteractionAt *time.Time `json:"firstInteractionAt" nullable:"true" doc:"When the earliest of those emails was sent or meetings started"`
	EmailsSent         int        `json:"emailsSent" doc:"Emails the user sent the contact (in the user's Sent mail, the contact not their sender)"`
	EmailsReceived     int        `json:"emailsReceived" doc:"The other emails with the contact: those it wrote, or was copied on, that the user received"`
	Meetings           int        `json:"meetings" doc:"Meetings held with the contact"`
	MeetingsLast90Days int        `json:"meetingsLast90Days" doc:"Of those, the meetings that started in the last 90 days"`
	CreatedAt          time.Time  `json:"createdAt"`
	UpdatedAt          time.Time  `json:"updatedAt"`
	PhotoURL           *string    `json:"photoUrl" nullable:"true" doc:"A picture of the person, found by enrichment"`
	EnrichedAt         *time.Time `json:"enrichedAt" nullable:"true" doc:"When enrichment last changed the contact; null before any"`
	EnrichedFrom       *string    `json:"enrichedFrom" nullable:"true" doc:"Where that enrichment looked the contact up"`
	EnrichmentMatched  *bool      `json:"enrichmentMatched" nullable:"true" doc:"Whether that source knew the person"`
}

func toContact(c contact.Contact) Contact {
	out := Contact{
		ID: c.ID, Email: c.Email, Name: c.Name, Company: c.Company, JobTitle: c.JobTitle,
		Phone: c.Phone, Notes: c.Notes, InteractionCount: c.InteractionCount,
		CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(),
		PhotoURL: c.PhotoURL, EnrichedAt: api.UTC(c.EnrichedAt), EnrichedFrom: c.EnrichedFrom, EnrichmentMatched: c.EnrichmentMatched,
	}
	out.LastInteractionAt, out.FirstInteractionAt = api.UTC(c.LastInteractionAt), api.UTC(c.FirstInteractionAt)
	out.EmailsSent, out.EmailsReceived, out.Meetings, out.MeetingsLast90Days = c.EmailsSent, c.EmailsReceived, c.Meetings, c.MeetingsLast90Days
	return out
}

// IDInput names one contact in the path.
type IDInput struct {
	ID uuid.UUID `path:"id" format:"uuid" doc:"The contact's id"`
}

// ContactOutput is one contact.
type ContactOutput struct {
	Body Contact
}

// Getter reads one contact.
type Getter interface {
	Get(ctx context.Context, userID, id uuid.UUID) (contact.Contact, error)
}

// Get answers GET /v1/contacts/{id}.
func Get(svc Getter) api.Route {
	return api.Handle(catalog.ContactsGet, func(ctx context.Context, in *IDInput) (*ContactOutput, error) {
		userID, err := auth.UserID(ctx)
		if err != nil {
			return nil, err
		}
		c, err := svc.Get(ctx, userID, in.ID)
		if err != nil {
			return nil, err
		}
		return &ContactOutput{Body: toContact(c)}, nil
	}, readAhead(svc))
}

// readAhead has the session check read the contact's cache entry in the
// same round trip as the session's, when svc caches.
func readAhead(svc Getter) api.RouteOption {
	l, ok := svc.(interface {
		GetLookup(userID, id uuid.UUID) cache.Lookup
	})
	if !ok {
		return func(*api.Route) {}
	}
	return api.ReadAhead(func(ctx huma.Context, userID uuid.UUID) []cache.Lookup {
		id, err := uuid.Parse(ctx.Param("id"))
		if err != nil {
			return nil
		}
		return []cache.Lookup{l.GetLookup(userID, id)}
	})
}

// NewContact is a contact to create.
type NewContact struct {
	Email    string `json:"email,omitempty" format:"email" maxLength:"320" doc:"Unique among the user's contacts, case-insensitively"`
	Name     string `json:"name,omitempty" maxLength:"200" doc:"Required when there is no email"`
	Company  string `json:"company,omitempty" maxLength:"200"`
	JobTitle string `json:"jobTitle,omitempty" maxLength:"200"`
	Phone    string `json:"phone,omitempty" maxLength:"50"`
	Notes    string `json:"notes,omitempty" maxLength:"10000"`
}

// CreateInput is a new contact.
type CreateInput struct {
	Body NewContact
}

// Creator adds contacts.
type Creator interface {
	Create(ctx context.Context, userID uuid.UUID, f contact.Fields) (contact.Contact, error)
}

// Create answers POST /v1/contacts.
func Create(svc Creator) api.Route {
	return api.Handle(catalog.ContactsCreate, func(ctx context.Context, in *CreateInput) (*ContactOutput, error) {
		userID, err := auth.UserID(ctx)
		if err != nil {
			return nil, err
		}
		b := in.Body
		c, err := svc.Create(ctx, userID, contact.Fields{
			Email: &b.Email, Name: &b.Name, Company: &b.Company, JobTitle: &b.JobTitle, Phone: &b.Phone, Notes: &b.Notes,
		})
		if err != nil {
			return nil, err
		}
		return &ContactOutput{Body: toContact(c)}, nil
	}, api.Status(http.StatusCreated), api.Errors(http.StatusConflict))
}

// ContactPatch changes some fields of a contact: absent fields stay as
// they are, null clears a field (JSON merge patch).
type ContactPatch struct {
	Email    api.Optional[string] `json:"email,omitzero" format:"email" maxLength:"320"`
	Name     api.Optional[string] `json:"name,omitzero" maxLength:"200"`
	Company  api.Optional[string] `json:"company,omitzero" maxLength:"200"`
	JobTitle api.Optional[string] `json:"jobTitle,omitzero" maxLength:"200"`
	Phone    api.Optional[string] `json:"phone,omitzero" maxLength:"50"`
	Notes    api.Optional[string] `json:"notes,omitzero" maxLength:"10000"`
}

// UpdateInput names a contact and its changes.
type UpdateInput struct {
	ID   uuid.UUID `path:"id" format:"uuid" doc:"The contact's id"`
	Body ContactPatch
}

// Updater changes contacts.
type Updater interface {
	Update(ctx context.Context, userID, id uuid.UUID, f contact.Fields) (contact.Contact, error)
}

// Update answers PATCH /v1/contacts/{id}.
func Update(svc Updater) api.Route {
	return api.Handle(catalog.ContactsUpdate, func(ctx context.Context, in *UpdateInput) (*ContactOutput, error) {
		userID, err := auth.UserID(ctx)
		if err != nil {
			return nil, err
		}
		b := in.Body
		c, err := svc.Update(ctx, userID, in.ID, contact.Fields{
			Email: b.Email.Ptr(), Name: b.Name.Ptr(), Company: b.Company.Ptr(),
			JobTitle: b.JobTitle.Ptr(), Phone: b.Phone.Ptr(), Notes: b.Notes.Ptr(),
		})
		if err != nil {
			return nil, err
		}
		return &ContactOutput{Body: toContact(c)}, nil
	}, api.Errors(http.StatusConflict))
}

// Deleter removes contacts.
type Deleter interface {
	Delete(ctx context.Context, userID, id uuid.UUID) error
}

// Delete answers DELETE /v1/contacts/{id}.
func Delete(svc Deleter) api.Route {
	return api.Handle(catalog.ContactsDelete, func(ctx context.Context, in *IDInput) (*struct{}, error) {
		userID, err := auth.UserID(ctx)
		if err != nil {
			return nil, err
		}
		return nil, svc.Delete(ctx, userID, in.ID)
	}, api.Status(http.StatusNoContent))
}

// ListInput selects a page of contacts.
type ListInput struct {
	Q        string `query:"q" maxLength:"200" doc:"Matches name, email or company, anywhere, case-insensitively"`
	Sort     string `query:"sort" enum:"name,lastInteraction,lastInteractionAsc" doc:"Order: name (the default), lastInteraction (most recent first) or lastInteractionAsc (longest ago first). The orders by last interaction leave out contacts without any interaction."`
	QuietFor int    `query:"quietFor" minimum:"1" maximum:"3650" doc:"Only contacts with at least one interaction, the last more than this many days ago; sorted lastInteractionAsc unless sort says otherwise"`
	Limit    int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Contacts per page"`
	Cursor   string `query:"cursor" maxLength:"512" doc:"nextCursor of the previous page, with the same sort"`
}

// ContactPage is a page of contacts in the order asked for.
type ContactPage struct {
	Items      []Contact `json:"items"`
	NextCursor *string   `json:"nextCursor" nullable:"true" doc:"Pass as cursor for the next page; null on the last page"`
}

// ListOutput is a page of contacts.
type ListOutput struct {
	Body ContactPage
}

// Lister pages through contacts.
type Lister interface {
	List(ctx context.Context, userID uuid.UUID, q contact.Query) (contact.Page, error)
}

// List answers GET /v1/contacts.
func List(svc Lister) api.Route {
	return api.Handle(catalog.ContactsList, func(ctx context.Context, in *ListInput) (*ListOutput, error) {
		userID, err := auth.UserID(ctx)
		if err != nil {
			return nil, err
		}
		q := contact.Query{Search: in.Q, Sort: in.Sort, QuietFor: in.QuietFor, Limit: in.Limit}
		if in.Cursor != "" {
			var c contact.Cursor
			if err := api.DecodeCursor(in.Cursor, &c); err != nil {
				return nil, err
			}
			if c.ID == uuid.Nil {
				return nil, errs.Field("cursor", "is not a valid cursor")
			}
			q.After = &c
		}
		page, err := svc.List(ctx, userID, q)
		if err != nil {
			return nil, err
		}
		out := &ListOutput{}
		out.Body.Items = make([]Contact, len(page.Items))
		for i, c := range page.Items {
			out.Body.Items[i] = toContact(c)
		}
		if page.Next != nil {
			next := api.EncodeCursor(page.Next)
			out.Body.NextCursor = &next
		}
		return out, nil
	})
}

// EnrichRequest asks for an enrichment.
type EnrichRequest struct {
	Sources []string `json:"sources,omitempty" minItems:"1" maxItems:"10" doc:"Where to look the contact up (google-contacts, the user's Google Contacts); all sources when absent"`
}

// EnrichInput names a contact to enrich.
type EnrichInput struct {
	ID   uuid.UUID `path:"id" format:"uuid" doc:"The contact's id"`
	Body *EnrichRequest
}

// EnrichOutput is the enrichment's job.
type EnrichOutput struct {
	Body jobs.Job
}

// Enricher enqueues enrichments.
type Enricher interface {
	Request(ctx context.Context, userID, id uuid.UUID, sources []string) (queue.Job, error)
}

// errEnrichmentOff answers users without the enrichment feature.
var errEnrichmentOff = errs.Forbidden("Enrichment is not enabled for this account")

// Enrich answers POST /v1/contacts/{id}/enrich: it enqueues an
// enrichment of the contact and answers its job, or the one already
// waiting or running for the contact. Follow it at GET /v1/jobs/{id}.
func Enrich(svc Enricher) api.Route {
	return api.Handle(catalog.ContactsEnrich, func(ctx context.Context, in *EnrichInput) (*EnrichOutput, error) {
		userID, err := auth.UserID(ctx)
		if err != nil {
			return nil, err
		}
		if !feature.Enabled(ctx, feature.Enrichment) {
			return nil, errEnrichmentOff
		}
		var sources []string
		if in.Body != nil {
			sources = in.Body.Sources
		}
		j, err := svc.Request(ctx, userID, in.ID, sources)
		if err != nil {
			return nil, err
		}
		return &EnrichOutput{Body: jobs.ToJob(j)}, nil
	}, api.Status(http.StatusAccepted), api.Errors(http.StatusForbidden, http.StatusNotFound))
}
