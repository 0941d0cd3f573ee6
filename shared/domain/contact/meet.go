package contact

import (
	"context"
	"fmt"
	"sort"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
)

// Ensure makes each address of emails (names[i] the display name of
// emails[i], empty for none) a contact of the user in q (the caller's
// transaction), under the rules RecordInteraction follows: a new address
// becomes a new contact named by its display name; an existing contact
// without a name, whose name the user did not clear, takes the display
// name; a name the user set is never replaced. It counts no interaction
// (Recount does). It returns the contact id of each address, lower-cased;
// addresses that cannot be a contact's are left out. One statement,
// whatever the number of people. The caller invalidates the user's cached
// reads (Changed) once its transaction commits.
func (s *Service) Ensure(ctx context.Context, q db.Querier, userID uuid.UUID, emails, names []string) (map[string]uuid.UUID, error) {
	if len(names) != len(emails) {
		return nil, fmt.Errorf("ensure contacts: %d names for %d addresses", len(names), len(emails))
	}
	ps := make([]Participant, len(emails))
	for i := range emails {
		ps[i] = Participant{Email: emails[i], Name: names[i], Role: "to"}
	}
	ps = dedupe(ps)
	if len(ps) == 0 {
		return map[string]uuid.UUID{}, nil
	}
	// Sorted, so that concurrent writers lock contacts in one order.
	sort.Slice(ps, func(i, j int) bool { return ps[i].Email < ps[j].Email })
	ids := make([]string, len(ps))
	addrs := make([]string, len(ps))
	shown := make([]*string, len(ps))
	for i, p := range ps {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		ids[i], addrs[i] = id.String(), p.Email
		if p.Name != "" {
			shown[i] = &p.Name
		}
	}
	// The rows inserted or updated come back from the upsert; those left
	// as they were from the statement's snapshot.
	rows, err := q.Query(ctx, `with up as (
			insert into contacts (id, user_id, email, name, name_source)
			select t.id, $1, t.email, t.name, case when t.name is not null then 'email' end
			from unnest($2::uuid[], $3::text[], $4::text[]) with ordinality as t(id, email, name, n)
			order by t.n
			on conflict (user_id, lower(email)) where email is not null do update
				set name = excluded.name, name_source = 'email'
				where `+fillName+`
			returning id, lower(email) as email
		)
		select id, email from up
		union all
		select id, lower(email) from contacts where user_id = $1 and lower(email) = any($3::text[])`,
		userID, ids, addrs, shown)
	if err != nil {
		return nil, fmt.Errorf("upsert contacts: %w", db.Err(err, "contact"))
	}
	type row struct {
		ID    uuid.UUID
		Email string
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		return nil, fmt.Errorf("upsert contacts: %w", db.Err(err, "contact"))
	}
	out := make(map[string]uuid.UUID, len(got))
	for _, r := range got {
		out[r.Email] = r.ID
	}
	// A contact another transaction inserted while the upsert ran: the
	// upsert waited for it and left it as it was, and the statement's
	// snapshot, older than that commit, does not show it. A new
	// statement does.
	var missing []string
	for _, a := range addrs {
		if _, ok := out[a]; !ok {
			missing = append(missing, a)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	rows, err = q.Query(ctx, `select id, lower(email) from contacts where user_id = $1 and lower(email) = any($2::text[])`, userID, missing)
	if err != nil {
		return nil, fmt.Errorf("read contacts: %w", db.Err(err, "contact"))
	}
	late, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		return nil, fmt.Errorf("read contacts: %w", db.Err(err, "contact"))
	}
	for _, r := range late {
		out[r.Email] = r.ID
	}
	return out, nil
}

// Recount sets the interaction figures of the user's contacts ids in q
// exactly from what they are linked to: interaction_count is the number
// of their emails and meetings, first_interaction_at and
// last_interaction_at the earliest and latest time of those (an email's
// time is when it was sent, else received, else stored; a meeting's when
// it starts), null when there are none; emails_sent, emails_received and
// meetings as Contact says. Whatever removes links (a deleted event or
// email) recounts their contacts through it. It
// returns how many contacts changed. Two statements: the contacts are
// locked, then counted; q must be a transaction.
func (s *Service) Recount(ctx context.Context, q db.Querier, userID uuid.UUID, ids []uuid.UUID) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	text := make([]string, len(ids))
	for i, id := range ids {
		text[i] = id.String()
	}
	// The contacts are locked first, by a statement of their own: a
	// concurrent RecordInteraction that links one of them commits before,
	// and this count sees its link, or has not counted it yet and waits,
	// then adds to this count. FOR NO KEY UPDATE, as RecordInteraction(s)
	// lock them, so as not to wait for the foreign-key checks of links
	// being inserted (FOR KEY SHARE), which those then wait for: a
	// deadlock. In address order (bytes), as RecordInteraction(s) and
	// Ensure lock them, so that concurrent writers wait for each other
	// rather than deadlock.
	if _, err := q.Exec(ctx, `select id from contacts where user_id = $1 and id = any($2::uuid[])
		order by lower(email) collate "C" nulls last, id for no key update`, userID, text); err != nil {
		return 0, fmt.Errorf("lock contacts: %w", db.Err(err, "contact"))
	}
	tag, err := q.Exec(ctx, `with fig as (
			select c.id, m.sent, m.received, m.n as emails, m.first as mail_first, m.last as mail_last,
				v.n as meetings, v.first as meet_first, v.last as meet_last
			from contacts c
			cross join lateral (select count(*) as n, min(e.sort_at) as first, max(e.sort_at) as last,
					count(*) filter (where 'SENT' = any(e.labels) and ec.role <> 'from') as sent,
					count(*) filter (where not ('SENT' = any(e.labels) and ec.role <> 'from')) as received
				from email_contacts ec join emails e on e.id = ec.email_id where ec.contact_id = c.id) m
			cross join lateral (select count(*) as n, min(ev.starts_at) as first, max(ev.starts_at) as last
				from event_contacts ev where ev.contact_id = c.id) v
			where c.user_id = $1 and c.id = any($2::uuid[])
		), want as (
			select id, (emails + meetings)::integer as n, greatest(mail_last, meet_last) as last,
				least(mail_first, meet_first) as first, sent::integer as sent, received::integer as received,
				meetings::integer as meetings
			from fig
		)
		update contacts c set interaction_count = w.n, last_interaction_at = w.last, first_interaction_at = w.first,
			emails_sent = w.sent, emails_received = w.received, meetings = w.meetings
		from want w where c.id = w.id
			and (c.interaction_count, c.last_interaction_at, c.first_interaction_at, c.emails_sent, c.emails_received, c.meetings)
				is distinct from (w.n, w.last, w.first, w.sent, w.received, w.meetings)`,
		userID, text)
	if err != nil {
		return 0, fmt.Errorf("recount interactions: %w", db.Err(err, "contact"))
	}
	return int(tag.RowsAffected()), nil
}

// Changed invalidates the user's cached reads, after a transaction that
// changed their contacts through Ensure or Recount commits.
func (s *Service) Changed(ctx context.Context, userID uuid.UUID) { s.changed(ctx, userID) }
