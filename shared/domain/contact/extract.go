package contact

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
)

// Name sources: who set a contact's name. A name the user set is never
// replaced by one taken from mail.
const (
	NameFromUser  = "user"
	NameFromEmail = "email"
)

// Participant is someone an email was exchanged with.
type Participant struct {
	// Email is the address, lower-cased; Name its display name, if any.
	Email, Name string
	// Role is how they took part: from, reply_to, to, cc or bcc.
	Role string
}

// Interaction is one email and the people it was exchanged with.
type Interaction struct {
	EmailID uuid.UUID
	// At is when the email happened.
	At           time.Time
	Participants []Participant
}

// Recorded says what RecordInteraction changed.
type Recorded struct {
	// Linked counts the participants newly linked to the email: those
	// whose interaction count went up.
	Linked int
}

// RecordInteraction makes every participant of an email a contact of the
// user and links it to the email in its role. A new address becomes a new
// contact named by its display name; an existing contact without a name,
// whose name the user did not clear, takes the display name; a name the
// user set is never replaced. Each contact linked to the email for the
// first time counts one more interaction (and one more email sent or
// received, see Contact), and its first and last interaction move to the
// email's time if that is earlier or later.
//
// It is idempotent: recording the same email again, even concurrently,
// links nothing new and counts nothing twice. A change invalidates the
// user's cached reads, as every write does. The email must be the
// user's. Errors: NotFound (no such email or user).
func (s *Service) RecordInteraction(ctx context.Context, userID uuid.UUID, in Interaction) (Recorded, error) {
	linked, changed, err := s.record(ctx, userID, []Interaction{in})
	if err != nil {
		return Recorded{}, err
	}
	if !changed && len(dedupe(in.Participants)) > 0 && !s.owns(ctx, userID, in.EmailID) {
		return Recorded{}, errs.NotFound("email")
	}
	return Recorded{Linked: linked[in.EmailID]}, nil
}

// owns reports whether the email is the user's.
func (s *Service) owns(ctx context.Context, userID, emailID uuid.UUID) bool {
	var ok bool
	err := s.db.QueryRow(ctx, `select exists (select 1 from emails where id = $1 and user_id = $2)`, emailID, userID).Scan(&ok)
	return err == nil && ok
}

// readBatch reads the results of a batch sent in a transaction with
// read, then closes them.
func readBatch(br pgx.BatchResults, read func(pgx.BatchResults) error) error {
	err := read(br)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = db.Err(cerr, "contact")
	}
	return err
}

// queryRows runs the next query of a batch, for pgx.ForEachRow.
func queryRows(br pgx.BatchResults) (pgx.Rows, error) { return br.Query() }

// fillName is when an existing contact takes a display name from mail:
// it has no name, the user did not clear it, and the mail gives one.
const fillName = `coalesce(contacts.name, '') = '' and contacts.name_source is distinct from 'user' and excluded.name is not null`

// mayFill is when an existing contact c may take a display name from
// mail; fill when it takes f.name.
const (
	mayFill = `coalesce(c.name, '') = '' and c.name_source is distinct from 'user'`
	fill    = mayFill + ` and f.name is not null`
)

// dedupe keeps one participant per address (lower-cased), in its
// strongest role, with the first display name given, and drops what
// cannot be a contact's email.
func dedupe(in []Participant) []Participant {
	rank := map[string]int{"from": 0, "reply_to": 1, "to": 2, "cc": 3, "bcc": 4}
	var out []Participant
	index := map[string]int{}
	for _, p := range in {
		p.Email = strings.ToLower(strings.TrimSpace(p.Email))
		p.Name = strings.TrimSpace(p.Name)
		if utf8.RuneCountInString(p.Name) > MaxName {
			p.Name = string([]rune(p.Name)[:MaxName])
		}
		r, ok := rank[p.Role]
		if !ok || p.Email == "" || len(p.Email) > MaxEmail || !plausibleEmail(p.Email) {
			continue
		}
		i, seen := index[p.Email]
		if !seen {
			index[p.Email] = len(out)
			out = append(out, p)
			continue
		}
		if r < rank[out[i].Role] {
			out[i].Role = p.Role
		}
		if out[i].Name == "" {
			out[i].Name = p.Name
		}
	}
	return out
}
