package contact

import (
	"context"
	"fmt"
	"sort"
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
	ps := dedupe(in.Participants)
	if len(ps) == 0 {
		return Recorded{}, nil
	}
	// Sorted, so that concurrent recordings lock contacts in one order.
	sort.Slice(ps, func(i, j int) bool { return ps[i].Email < ps[j].Email })
	// Ids as text: statements are not described first (see db.Open).
	ids := make([]string, len(ps))
	emails := make([]string, len(ps))
	names := make([]*string, len(ps))
	roles := make([]string, len(ps))
	for i, p := range ps {
		id, err := uuid.NewV7()
		if err != nil {
			return Recorded{}, err
		}
		ids[i], emails[i], roles[i] = id.String(), p.Email, p.Role
		if p.Name != "" {
			names[i] = &p.Name
		}
	}

	// A conflicting row is locked whether or not it is updated (with
	// the rows sorted, in one order for every writer); it takes the
	// display name only where that is allowed. Both statements do nothing
	// unless the email is the user's.
	upsert := `insert into contacts (id, user_id, email, name, name_source)
		select t.id, $1, t.email, t.name, case when t.name is not null then 'email' end
		from unnest($2::uuid[], $3::text[], $4::text[]) with ordinality as t(id, email, name, n)
		where exists (select 1 from emails where id = $5 and user_id = $1)
		order by t.n
		on conflict (user_id, lower(email)) where email is not null do update
			set name = excluded.name, name_source = 'email'
			where ` + fillName
	// Links that already existed come back from nothing: only the new
	// ones count.
	link := `with linked as (
			insert into email_contacts (email_id, contact_id, user_id, role)
			select $2, c.id, $1, t.role
			from unnest($3::text[], $4::text[]) as t(email, role)
			join contacts c on c.user_id = $1 and lower(c.email) = t.email
			where exists (select 1 from emails where id = $2 and user_id = $1)
			on conflict (email_id, contact_id) do nothing
			returning contact_id, role
		)
		update contacts set interaction_count = interaction_count + 1,
			last_interaction_at = greatest(last_interaction_at, $5),
			first_interaction_at = least(first_interaction_at, $5),
			emails_sent = emails_sent + (l.sent and l.role <> 'from')::int,
			emails_received = emails_received + (not (l.sent and l.role <> 'from'))::int
		from (select linked.contact_id, linked.role,
				coalesce((select 'SENT' = any(e.labels) from emails e where e.id = $2), false) as sent
			from linked) l
		where contacts.id = l.contact_id`

	b := &pgx.Batch{}
	b.Queue(upsert, userID, ids, emails, names, in.EmailID)
	b.Queue(link, userID, in.EmailID, emails, roles, in.At)
	var upserted, linked int64
	err := s.atomically(ctx, b, func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		if err != nil {
			return fmt.Errorf("upsert contacts: %w", db.Err(err, "contact"))
		}
		upserted = tag.RowsAffected()
		if tag, err = br.Exec(); err != nil {
			return fmt.Errorf("link contacts to email %s: %w", in.EmailID, db.Err(err, "email"))
		}
		linked = tag.RowsAffected()
		return nil
	})
	if err != nil {
		return Recorded{}, err
	}
	if upserted == 0 && linked == 0 {
		if !s.owns(ctx, userID, in.EmailID) {
			return Recorded{}, errs.NotFound("email")
		}
		return Recorded{}, nil
	}
	s.changed(ctx, userID)
	return Recorded{Linked: int(linked)}, nil
}

// owns reports whether the email is the user's.
func (s *Service) owns(ctx context.Context, userID, emailID uuid.UUID) bool {
	var ok bool
	err := s.db.QueryRow(ctx, `select exists (select 1 from emails where id = $1 and user_id = $2)`, emailID, userID).Scan(&ok)
	return err == nil && ok
}

// batcher sends a batch of statements in one round trip; a pool runs it
// as one implicit transaction.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// atomically runs the statements of b all or none: in one round trip
// when the store can send batches (PostgreSQL runs a batch up to its sync
// as one implicit transaction), else in a transaction.
func (s *Service) atomically(ctx context.Context, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	if bs, ok := s.db.(batcher); ok {
		br := bs.SendBatch(ctx, b)
		err := read(br)
		if cerr := br.Close(); err == nil && cerr != nil {
			err = db.Err(cerr, "contact")
		}
		return err
	}
	return db.InTx(ctx, s.db, func(tx db.Tx) error {
		br := tx.SendBatch(ctx, b)
		err := read(br)
		if cerr := br.Close(); err == nil && cerr != nil {
			err = db.Err(cerr, "contact")
		}
		return err
	})
}

// fillName is when an existing contact takes a display name from mail:
// it has no name, the user did not clear it, and the mail gives one.
const fillName = `coalesce(contacts.name, '') = '' and contacts.name_source is distinct from 'user' and excluded.name is not null`

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
