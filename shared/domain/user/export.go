package user

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
)

// ExportFormat names the export's shape and its version.
const ExportFormat = "personal-crm-export/1"

// Export is the document GET /v1/user/export answers: everything the
// system holds about one person, as it is stored, in one JSON object. It
// never holds a secret: no provider token, session token hash or key.
//
// Export writes it section by section, each row encoded as it is read, so
// that its size does not bound what the writer can take; the type itself
// describes the document.
type Export struct {
	Format     string          `json:"format" doc:"The shape of this document and its version"`
	ExportedAt time.Time       `json:"exportedAt"`
	User       ExportUser      `json:"user"`
	Accounts   []ExportAccount `json:"accounts" doc:"Google accounts, without their tokens"`
	Sessions   []ExportSession `json:"sessions" doc:"Sessions, without their tokens"`
	Contacts   []ExportContact `json:"contacts"`
	Emails     []ExportEmail   `json:"emails" doc:"Synced mail: the headers and snippet, as synced"`
	// EmailContacts link emails to the contacts they were exchanged with.
	EmailContacts []ExportEmailContact `json:"emailContacts" doc:"Which contact took which part in which email"`
	Insights      []ExportInsight      `json:"insights" doc:"AI analyses"`
	SyncStates    []ExportSyncState    `json:"syncStates" doc:"Where the mail sync of each account stands"`
	// CalendarEvents are the synced meetings; EventContacts link them to
	// the contacts they were held with.
	CalendarEvents     []ExportCalendarEvent     `json:"calendarEvents" doc:"Synced calendar events that are meetings with someone"`
	EventContacts      []ExportEventContact      `json:"eventContacts" doc:"Which contact took which part in which meeting"`
	CalendarSyncStates []ExportCalendarSyncState `json:"calendarSyncStates" doc:"Where the calendar sync of each account stands"`
	Jobs               []ExportJob               `json:"jobs" doc:"Background jobs kept (finished ones for their retention)"`
}

// ExportUser is the person's profile and settings.
type ExportUser struct {
	ID        uuid.UUID       `json:"id" db:"id"`
	Email     string          `json:"email" db:"email"`
	Name      *string         `json:"name" db:"name"`
	ImageURL  *string         `json:"imageUrl" db:"image_url"`
	Features  json.RawMessage `json:"features" db:"features" doc:"Feature flag settings"`
	CreatedAt time.Time       `json:"createdAt" db:"created_at"`
	UpdatedAt time.Time       `json:"updatedAt" db:"updated_at"`
}

// ExportAccount is a Google account, without its tokens.
type ExportAccount struct {
	ID                uuid.UUID  `json:"id" db:"id"`
	Provider          string     `json:"provider" db:"provider"`
	ProviderAccountID string     `json:"providerAccountId" db:"provider_account_id" doc:"Google's id of the person"`
	Scope             *string    `json:"scope" db:"scope" doc:"The access granted, space-separated"`
	NeedsReconsent    bool       `json:"needsReconsent" db:"needs_reconsent"`
	DisconnectedAt    *time.Time `json:"disconnectedAt" db:"disconnected_at"`
	CreatedAt         time.Time  `json:"createdAt" db:"created_at"`
	UpdatedAt         time.Time  `json:"updatedAt" db:"updated_at"`
}

// ExportSession is a session, without its token's hash.
type ExportSession struct {
	ID         uuid.UUID `json:"id" db:"id"`
	CreatedAt  time.Time `json:"createdAt" db:"created_at"`
	LastUsedAt time.Time `json:"lastUsedAt" db:"last_used_at"`
	ExpiresAt  time.Time `json:"expiresAt" db:"expires_at"`
	UserAgent  *string   `json:"userAgent" db:"user_agent"`
	IP         *string   `json:"ip" db:"ip"`
}

// ExportContact is a contact with everything known of it.
type ExportContact struct {
	ID                 uuid.UUID       `json:"id" db:"id"`
	Email              *string         `json:"email" db:"email"`
	Name               *string         `json:"name" db:"name"`
	NameSource         *string         `json:"nameSource" db:"name_source"`
	Company            *string         `json:"company" db:"company"`
	JobTitle           *string         `json:"jobTitle" db:"job_title"`
	Phone              *string         `json:"phone" db:"phone"`
	PhotoURL           *string         `json:"photoUrl" db:"photo_url"`
	Notes              *string         `json:"notes" db:"notes"`
	FieldSources       json.RawMessage `json:"fieldSources" db:"field_sources" doc:"Where each field's value came from"`
	InteractionCount   int             `json:"interactionCount" db:"interaction_count"`
	LastInteractionAt  *time.Time      `json:"lastInteractionAt" db:"last_interaction_at"`
	FirstInteractionAt *time.Time      `json:"firstInteractionAt" db:"first_interaction_at"`
	EmailsSent         int             `json:"emailsSent" db:"emails_sent"`
	EmailsReceived     int             `json:"emailsReceived" db:"emails_received"`
	Meetings           int             `json:"meetings" db:"meetings"`
	EnrichedAt         *time.Time      `json:"enrichedAt" db:"enriched_at"`
	EnrichedFrom       *string         `json:"enrichedFrom" db:"enriched_from"`
	EnrichmentMatched  *bool           `json:"enrichmentMatched" db:"enrichment_matched"`
	CreatedAt          time.Time       `json:"createdAt" db:"created_at"`
	UpdatedAt          time.Time       `json:"updatedAt" db:"updated_at"`
}

// ExportEmail is a synced email.
type ExportEmail struct {
	ID         uuid.UUID       `json:"id" db:"id"`
	AccountID  *uuid.UUID      `json:"accountId" db:"account_id"`
	ProviderID *string         `json:"providerId" db:"provider_id" doc:"Gmail's id of the message"`
	ThreadID   *string         `json:"threadId" db:"thread_id"`
	Mailbox    *string         `json:"mailbox" db:"mailbox"`
	MessageID  *string         `json:"messageId" db:"message_id"`
	Subject    *string         `json:"subject" db:"subject"`
	Snippet    *string         `json:"snippet" db:"snippet"`
	BodyText   *string         `json:"bodyText" db:"body_text"`
	From       *string         `json:"from" db:"from_header"`
	To         *string         `json:"to" db:"to_header"`
	Cc         *string         `json:"cc" db:"cc_header"`
	Bcc        *string         `json:"bcc" db:"bcc_header"`
	ReplyTo    *string         `json:"replyTo" db:"reply_to_header"`
	Headers    json.RawMessage `json:"headers" db:"headers"`
	Labels     []string        `json:"labels" db:"labels"`
	SentAt     *time.Time      `json:"sentAt" db:"sent_at"`
	ReceivedAt *time.Time      `json:"receivedAt" db:"received_at"`
	CreatedAt  time.Time       `json:"createdAt" db:"created_at"`
	UpdatedAt  time.Time       `json:"updatedAt" db:"updated_at"`
}

// ExportEmailContact says that a contact took a part in an email.
type ExportEmailContact struct {
	EmailID   uuid.UUID `json:"emailId" db:"email_id"`
	ContactID uuid.UUID `json:"contactId" db:"contact_id"`
	Role      string    `json:"role" db:"role" enum:"from,to,cc,bcc,reply_to"`
	CreatedAt time.Time `json:"createdAt" db:"created_at"`
}

// ExportInsight is an AI analysis.
type ExportInsight struct {
	ID        uuid.UUID       `json:"id" db:"id"`
	ContactID *uuid.UUID      `json:"contactId" db:"contact_id"`
	Type      string          `json:"type" db:"type"`
	JobID     uuid.UUID       `json:"jobId" db:"job_id"`
	Model     string          `json:"model" db:"model"`
	Content   json.RawMessage `json:"content" db:"content"`
	CreatedAt time.Time       `json:"createdAt" db:"created_at"`
}

// ExportSyncState is where the mail sync of an account stands.
type ExportSyncState struct {
	AccountID    uuid.UUID  `json:"accountId" db:"account_id"`
	HistoryID    *string    `json:"historyId" db:"history_id" doc:"Gmail's history id the next sync starts from"`
	LastSyncedAt *time.Time `json:"lastSyncedAt" db:"last_synced_at"`
	CreatedAt    time.Time  `json:"createdAt" db:"created_at"`
	UpdatedAt    time.Time  `json:"updatedAt" db:"updated_at"`
}

// ExportCalendarEvent is a synced calendar event.
type ExportCalendarEvent struct {
	ID               uuid.UUID       `json:"id" db:"id"`
	AccountID        uuid.UUID       `json:"accountId" db:"account_id"`
	GoogleID         string          `json:"googleId" db:"google_id" doc:"Google Calendar's id of the event (of the occurrence, for a recurring one)"`
	RecurringEventID *string         `json:"recurringEventId" db:"recurring_event_id"`
	Title            *string         `json:"title" db:"title"`
	Location         *string         `json:"location" db:"location"`
	StartsAt         time.Time       `json:"startsAt" db:"starts_at"`
	EndsAt           time.Time       `json:"endsAt" db:"ends_at"`
	AllDay           bool            `json:"allDay" db:"all_day"`
	Status           string          `json:"status" db:"status"`
	OrganizerEmail   *string         `json:"organizerEmail" db:"organizer_email"`
	Attendees        json.RawMessage `json:"attendees" db:"attendees" doc:"The people the event is a meeting with"`
	GoogleUpdatedAt  *time.Time      `json:"googleUpdatedAt" db:"google_updated_at"`
	LinkedAt         *time.Time      `json:"linkedAt" db:"linked_at" doc:"When its attendees were linked to contacts; none while it is to come"`
	CreatedAt        time.Time       `json:"createdAt" db:"created_at"`
	UpdatedAt        time.Time       `json:"updatedAt" db:"updated_at"`
}

// ExportEventContact says that a contact took a part in a meeting.
type ExportEventContact struct {
	EventID   uuid.UUID `json:"eventId" db:"event_id"`
	ContactID uuid.UUID `json:"contactId" db:"contact_id"`
	StartsAt  time.Time `json:"startsAt" db:"starts_at"`
	Response  string    `json:"response" db:"response" enum:"accepted,tentative,needsAction"`
	Role      string    `json:"role" db:"role" enum:"organizer,required,optional"`
	CreatedAt time.Time `json:"createdAt" db:"created_at"`
}

// ExportCalendarSyncState is where the calendar sync of an account
// stands.
type ExportCalendarSyncState struct {
	AccountID    uuid.UUID  `json:"accountId" db:"account_id"`
	Status       string     `json:"status" db:"status" enum:"new,full,synced"`
	WindowStart  *time.Time `json:"windowStart" db:"window_start" doc:"The start of the window the last full sync read"`
	WindowEnd    *time.Time `json:"windowEnd" db:"window_end"`
	LastSyncedAt *time.Time `json:"lastSyncedAt" db:"last_synced_at"`
	CreatedAt    time.Time  `json:"createdAt" db:"created_at"`
	UpdatedAt    time.Time  `json:"updatedAt" db:"updated_at"`
}

// ExportJob is a background job of the person's.
type ExportJob struct {
	ID          uuid.UUID       `json:"id" db:"id"`
	Kind        string          `json:"kind" db:"kind"`
	Payload     json.RawMessage `json:"payload" db:"payload"`
	State       string          `json:"state" db:"state"`
	Attempts    int             `json:"attempts" db:"attempts"`
	MaxAttempts int             `json:"maxAttempts" db:"max_attempts"`
	RunAt       time.Time       `json:"runAt" db:"run_at"`
	LastError   *string         `json:"lastError" db:"last_error" doc:"The last failure, as the job's user may read it"`
	CreatedAt   time.Time       `json:"createdAt" db:"created_at"`
	UpdatedAt   time.Time       `json:"updatedAt" db:"updated_at"`
	StartedAt   *time.Time      `json:"startedAt" db:"started_at"`
	FinishedAt  *time.Time      `json:"finishedAt" db:"finished_at"`
}

// exportSection is one list of the document: its key, the rows' table and
// how they are found and ordered (the user's id is $1).
type exportSection struct {
	key, table, where string
	write             func(ctx context.Context, q db.Querier, w *exportWriter, s exportSection, userID uuid.UUID) error
}

// exportSections are the document's lists, in order.
var exportSections = []exportSection{
	section[ExportAccount]("accounts", "accounts", "user_id = $1 order by created_at, id"),
	section[ExportSession]("sessions", "sessions", "user_id = $1 order by created_at, id"),
	section[ExportContact]("contacts", "contacts", "user_id = $1 order by id"),
	section[ExportEmail]("emails", "emails", "user_id = $1 order by id"),
	section[ExportEmailContact]("emailContacts", "email_contacts", "user_id = $1 order by email_id, contact_id"),
	section[ExportInsight]("insights", "ai_insights", "user_id = $1 order by id"),
	section[ExportSyncState]("syncStates", "sync_state", "user_id = $1 order by account_id"),
	section[ExportCalendarEvent]("calendarEvents", "calendar_events", "user_id = $1 order by id"),
	section[ExportEventContact]("eventContacts", "event_contacts", "user_id = $1 order by event_id, contact_id"),
	section[ExportCalendarSyncState]("calendarSyncStates", "calendar_sync_state", "user_id = $1 order by account_id"),
	section[ExportJob]("jobs", "jobs", "user_id = $1 order by created_at, id"),
}

// exportLeftOut are the columns of the exported tables that the export
// leaves out, and why. Every other column is exported (a test holds the
// schema to this).
var exportLeftOut = map[string]string{
	"*.user_id":                        "the document is one user's",
	"accounts.access_token":            "a secret",
	"accounts.refresh_token":           "a secret",
	"accounts.id_token":                "a credential",
	"accounts.token_type":              "token bookkeeping",
	"accounts.expires_at":              "token bookkeeping: when the access token expires",
	"sessions.token_hash":              "a credential",
	"contacts.sort_key":                "derived from name and email",
	"emails.sort_at":                   "derived from the dates",
	"email_contacts.sort_at":           "the email's sort_at, copied for the timeline's order",
	"sync_state.full_history_id":       "sync bookkeeping",
	"sync_state.page_token":            "sync bookkeeping",
	"sync_state.listed":                "sync bookkeeping",
	"sync_state.locked_until":          "sync bookkeeping",
	"calendar_events.generation":       "sync bookkeeping",
	"calendar_sync_state.sync_token":   "sync bookkeeping",
	"calendar_sync_state.page_token":   "sync bookkeeping",
	"calendar_sync_state.generation":   "sync bookkeeping",
	"calendar_sync_state.locked_until": "sync bookkeeping",
	"jobs.error":                       "operators' detail, which may name internals",
	"jobs.singleton_key":               "queue bookkeeping",
	"jobs.locked_until":                "queue bookkeeping",
	"jobs.sent_at":                     "queue bookkeeping",
}

// section describes a list of rows of type T, whose db tags name the
// columns read.
func section[T any](key, table, where string) exportSection {
	return exportSection{key: key, table: table, where: where, write: writeSection[T]}
}

// exportColumns are the columns T's db tags name.
func exportColumns(t reflect.Type) []string {
	var cols []string
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("db"); tag != "" && tag != "-" {
			cols = append(cols, tag)
		}
	}
	return cols
}

func writeSection[T any](ctx context.Context, q db.Querier, w *exportWriter, s exportSection, userID uuid.UUID) error {
	cols := strings.Join(exportColumns(reflect.TypeFor[T]()), ", ")
	rows, err := q.Query(ctx, "select "+cols+" from "+s.table+" where "+s.where, userID)
	if err != nil {
		return db.Err(err, s.table)
	}
	defer rows.Close()
	w.begin(s.key)
	for rows.Next() {
		v, err := pgx.RowToStructByName[T](rows)
		if err != nil {
			return db.Err(err, s.table)
		}
		w.item(&v)
	}
	if err := rows.Err(); err != nil {
		return db.Err(err, s.table)
	}
	w.end()
	return w.err
}

// Export writes user id's data (the Export document) to the writer open
// returns, from one consistent snapshot of the database. Each row is
// encoded as it is read, and written through a small buffer, so memory
// stays bounded however much there is: a slow reader slows the reading of
// rows.
//
// open is called once the user is found and nothing can fail but the
// writing itself: an error before it (NotFound: no such user) can still be
// answered as such; one after it leaves the document cut short.
func (d *Data) Export(ctx context.Context, id uuid.UUID, open func() io.Writer) error {
	return db.InTx(ctx, d.db, func(tx db.Tx) error {
		if _, err := tx.Exec(ctx, `set transaction isolation level repeatable read, read only`); err != nil {
			return db.Err(err, "export")
		}
		rows, err := tx.Query(ctx, "select "+strings.Join(exportColumns(reflect.TypeFor[ExportUser]()), ", ")+" from users where id = $1", id)
		if err != nil {
			return db.Err(err, "user")
		}
		u, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[ExportUser])
		if err != nil {
			return db.Err(err, "user")
		}
		w := &exportWriter{w: bufio.NewWriterSize(open(), 32<<10)}
		w.raw(`{"format":`)
		w.value(ExportFormat)
		w.raw(`,"exportedAt":`)
		w.value(time.Now().UTC())
		w.raw(`,"user":`)
		w.value(&u)
		for _, s := range exportSections {
			if err := s.write(ctx, tx, w, s, id); err != nil {
				return fmt.Errorf("export %s: %w", s.key, err)
			}
		}
		w.raw("}\n")
		if w.err == nil {
			w.err = w.w.Flush()
		}
		return w.err
	})
}

// exportWriter writes the document's JSON, remembering the first error;
// after one it writes nothing.
type exportWriter struct {
	w     *bufio.Writer
	err   error
	first bool
}

func (w *exportWriter) raw(s string) {
	if w.err == nil {
		_, w.err = w.w.WriteString(s)
	}
}

// value writes v as JSON, its times in UTC.
func (w *exportWriter) value(v any) {
	if w.err != nil {
		return
	}
	utc(reflect.ValueOf(v))
	b, err := json.Marshal(v)
	if err != nil {
		w.err = err
		return
	}
	_, w.err = w.w.Write(b)
}

func (w *exportWriter) begin(key string) {
	w.raw(`,"` + key + `":[`)
	w.first = true
}

func (w *exportWriter) item(v any) {
	if !w.first {
		w.raw(",")
	}
	w.first = false
	w.value(v)
}

func (w *exportWriter) end() { w.raw("]") }

var timeType = reflect.TypeFor[time.Time]()

// utc sets the times of the struct v points to in UTC, as the API writes
// them.
func utc(v reflect.Value) {
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return
	}
	s := v.Elem()
	for i := 0; i < s.NumField(); i++ {
		f := s.Field(i)
		switch {
		case f.Type() == timeType:
			f.Set(reflect.ValueOf(f.Interface().(time.Time).UTC()))
		case f.Kind() == reflect.Pointer && f.Type().Elem() == timeType && !f.IsNil():
			t := f.Elem().Interface().(time.Time).UTC()
			f.Set(reflect.ValueOf(&t))
		}
	}
}
