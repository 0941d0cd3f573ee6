// Package email holds the rules of a user's synced mail: what an email
// records, how its address headers are read, and who an email was
// exchanged with (its participants), leaving out the user's own addresses
// and automated senders.
package email

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
)

// Email is one synced message.
type Email struct {
	ID         uuid.UUID  `db:"id"`
	UserID     uuid.UUID  `db:"user_id"`
	AccountID  *uuid.UUID `db:"account_id"`
	ProviderID *string    `db:"provider_id"`
	ThreadID   *string    `db:"thread_id"`
	// Mailbox is the address of the mailbox the email was synced from.
	Mailbox   *string `db:"mailbox"`
	MessageID *string `db:"message_id"`
	Subject   *string `db:"subject"`
	Snippet   *string `db:"snippet"`
	BodyText  *string `db:"body_text"`
	// The address headers, as received.
	From    *string `db:"from_header"`
	To      *string `db:"to_header"`
	Cc      *string `db:"cc_header"`
	Bcc     *string `db:"bcc_header"`
	ReplyTo *string `db:"reply_to_header"`
	// Headers are other headers the rules read, by lower-case name.
	Headers    map[string]string `db:"headers"`
	Labels     []string          `db:"labels"`
	SentAt     *time.Time        `db:"sent_at"`
	ReceivedAt *time.Time        `db:"received_at"`
	CreatedAt  time.Time         `db:"created_at"`
	UpdatedAt  time.Time         `db:"updated_at"`
	// SortAt is At as the database keeps it, for the list order.
	SortAt time.Time `db:"sort_at"`
}

// At is when the email happened: sent, else received, else stored.
func (e Email) At() time.Time {
	switch {
	case e.SentAt != nil:
		return *e.SentAt
	case e.ReceivedAt != nil:
		return *e.ReceivedAt
	}
	return e.CreatedAt
}

// Store is the database the service works on.
type Store interface {
	db.Querier
}

// Service manages emails. Every method takes the acting user and only
// ever sees that user's emails: another user's id is NotFound.
type Service struct {
	db    Store
	table *db.Table[Email]
}

// NewService returns the email service on store.
func NewService(store Store) *Service {
	return &Service{db: store, table: db.NewTable[Email]("emails", "email")}
}

// Fields are a new email's fields.
type Fields struct {
	AccountID                         *uuid.UUID
	ProviderID, ThreadID, Mailbox     string
	MessageID, Subject, Snippet, Body string
	From, To, Cc, Bcc, ReplyTo        string
	Headers                           map[string]string
	Labels                            []string
	SentAt, ReceivedAt                *time.Time
}

// Create stores an email of userID. Errors: Conflict (the account has a
// message with this provider id), NotFound (no such account or user).
func (s *Service) Create(ctx context.Context, userID uuid.UUID, f Fields) (Email, error) {
	vals, err := f.values()
	if err != nil {
		return Email{}, err
	}
	return s.table.Insert(ctx, s.db, userID, vals)
}

// values are the columns of a new email with f, under a new id.
func (f Fields) values() (db.Values, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	headers := map[string]string{}
	for k, v := range f.Headers {
		headers[strings.ToLower(k)] = v
	}
	// JSON text: statements are not described first (see db.Open), so
	// the database reads it as the column's jsonb.
	hdrs, err := json.Marshal(headers)
	if err != nil {
		return nil, err
	}
	labels := f.Labels
	if labels == nil {
		labels = []string{}
	}
	return db.Values{
		{Column: "id", Value: id},
		{Column: "account_id", Value: f.AccountID},
		{Column: "provider_id", Value: nullable(f.ProviderID)},
		{Column: "thread_id", Value: nullable(f.ThreadID)},
		{Column: "mailbox", Value: nullable(f.Mailbox)},
		{Column: "message_id", Value: nullable(f.MessageID)},
		{Column: "subject", Value: nullable(f.Subject)},
		{Column: "snippet", Value: nullable(f.Snippet)},
		{Column: "body_text", Value: nullable(f.Body)},
		{Column: "from_header", Value: nullable(f.From)},
		{Column: "to_header", Value: nullable(f.To)},
		{Column: "cc_header", Value: nullable(f.Cc)},
		{Column: "bcc_header", Value: nullable(f.Bcc)},
		{Column: "reply_to_header", Value: nullable(f.ReplyTo)},
		{Column: "headers", Value: string(hdrs)},
		{Column: "labels", Value: labels},
		{Column: "sent_at", Value: f.SentAt},
		{Column: "received_at", Value: f.ReceivedAt},
	}, nil
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Get returns the user's email id. Errors: NotFound.
func (s *Service) Get(ctx context.Context, userID, id uuid.UUID) (Email, error) {
	return s.table.Get(ctx, s.db, userID, id)
}

// The roles of a participant, strongest first: someone both in From and
// Cc of an email is its sender.
const (
	RoleFrom    = "from"
	RoleReplyTo = "reply_to"
	RoleTo      = "to"
	RoleCc      = "cc"
	RoleBcc     = "bcc"
)

// Participant is someone an email was exchanged with.
type Participant struct {
	Address
	Role string
}

// Exchange is an email with the people it was exchanged with.
type Exchange struct {
	Email        Email
	Participants []Participant
}

// MaxParticipants bounds the people taken from one email: anyone can
// send the user one message addressed to thousands, and each would
// otherwise become a contact.
const MaxParticipants = 50

// Participants loads the user's email id and returns who it was exchanged
// with under policy: each address of From, Reply-To, To, Cc and Bcc once,
// in its strongest role, named by the first display name given for it,
// except the user's own addresses (the account's and the mailbox's), the
// addresses policy ignores, and the recipients (To, Cc, Bcc) of bulk and
// list mail (ListMail); the first MaxParticipants of those, in header
// order. Errors: NotFound.
func (s *Service) Participants(ctx context.Context, userID, id uuid.UUID, policy Policy) (Exchange, error) {
	rows, err := s.db.Query(ctx, `select `+s.table.Columns()+`, (select email from users where id = $1) as owner_address
		from emails where user_id = $1 and id = $2`, userID, id)
	if err != nil {
		return Exchange{}, db.Err(err, "email")
	}
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[withOwner])
	if err != nil {
		return Exchange{}, db.Err(err, "email")
	}
	own := []string{}
	if out.OwnerAddress != nil {
		own = append(own, *out.OwnerAddress)
	}
	if out.Mailbox != nil {
		own = append(own, *out.Mailbox)
	}
	return Exchange{Email: out.Email, Participants: participants(out.Email, own, policy)}, nil
}

// withOwner is an email with its user's address.
type withOwner struct {
	Email
	OwnerAddress *string `db:"owner_address"`
}

// participants applies the rules of Participants to e.
func participants(e Email, own []string, policy Policy) []Participant {
	self := map[string]bool{}
	for _, a := range own {
		if a, ok := normalizeAddress(a); ok {
			self[a] = true
			self[canonical(a)] = true
		}
	}
	automated := Automated(e.Headers) && !policy.KeepAutomatedMail
	list := ListMail(e.Headers)
	headers := []struct {
		role   string
		value  *string
		sender bool
	}{
		{RoleFrom, e.From, true},
		{RoleReplyTo, e.ReplyTo, true},
		{RoleTo, e.To, false},
		{RoleCc, e.Cc, false},
		{RoleBcc, e.Bcc, false},
	}
	var out []Participant
	index := map[string]int{}
	for _, h := range headers {
		if h.value == nil || (h.sender && automated) || (!h.sender && list) {
			continue
		}
		for _, a := range ParseAddresses(*h.value) {
			if len(out) == MaxParticipants {
				return out
			}
			if self[a.Email] || self[canonical(a.Email)] || policy.Ignored(a.Email) {
				continue
			}
			if i, ok := index[a.Email]; ok {
				if out[i].Name == "" {
					out[i].Name = a.Name
				}
				continue
			}
			index[a.Email] = len(out)
			out = append(out, Participant{Address: a, Role: h.role})
		}
	}
	return out
}

// canonical drops a "+tag" from the local part, so that the user's
// me+lists@example.com is the user too.
func canonical(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	local, domain := addr[:at], addr[at:]
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	return local + domain
}
