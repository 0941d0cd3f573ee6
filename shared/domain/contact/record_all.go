package contact

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
)

// RecordInteractions does what RecordInteraction does for each of ins,
// emails of one user, in one transaction of two statements: a page of
// mail costs what one email does. An address met in several of the emails
// takes the first display name they give it; its contact counts one
// interaction per email newly linked (and the emails sent and received
// among them), and its first and last interaction move to the earliest
// and latest of them. An email given twice is recorded once.
//
// It is idempotent as RecordInteraction is, and locks contacts in the same
// order, so the two can run concurrently. It returns what it changed for
// each email, in the order of ins; an email that is gone, or is not the
// user's, records nothing and is no error.
func (s *Service) RecordInteractions(ctx context.Context, userID uuid.UUID, ins []Interaction) ([]Recorded, error) {
	out := make([]Recorded, len(ins))
	// One row per participant of each email, in the order given. Ids as
	// text: statements are not described first (see db.Open).
	var ids, emails, roles, eids []string
	var names []*string
	var at []time.Time
	var atIDs []string
	seen := map[uuid.UUID]bool{}
	for _, in := range ins {
		if seen[in.EmailID] {
			continue
		}
		seen[in.EmailID] = true
		ps := dedupe(in.Participants)
		if len(ps) == 0 {
			continue
		}
		eid := in.EmailID.String()
		atIDs, at = append(atIDs, eid), append(at, in.At)
		for _, p := range ps {
			id, err := uuid.NewV7()
			if err != nil {
				return nil, err
			}
			var name *string
			if p.Name != "" {
				name = &p.Name
			}
			ids, emails, names, roles, eids = append(ids, id.String()), append(emails, p.Email), append(names, name), append(roles, p.Role), append(eids, eid)
		}
	}
	if len(ids) == 0 {
		return out, nil
	}

	// The emails are looked up by primary key row by row (a scalar
	// subquery, never a join), so that the plan does not depend on the
	// statistics of a table a new user's sync grows fast.
	//
	// One row per address, its first display name, sorted as
	// RecordInteraction sorts (byte order) so that concurrent recordings
	// lock contacts in one order; a conflicting row is locked whether or
	// not it takes the name.
	upsert := `insert into contacts (id, user_id, email, name, name_source)
		select t.id, $1, t.email, t.name, case when t.name is not null then 'email' end
		from (
			select distinct on (t.email) t.id, t.email, t.name
			from unnest($2::uuid[], $3::text[], $4::text[], $5::uuid[]) with ordinality as t(id, email, name, eid, n)
			where (select e.user_id from emails e where e.id = t.eid) = $1
			order by t.email, t.name is null, t.n
		) t
		order by t.email collate "C"
		on conflict (user_id, lower(email)) where email is not null do update
			set name = excluded.name, name_source = 'email'
			where ` + fillName
	// Links that already existed come back from nothing: only the new
	// ones count, once per email. Each address's contact is looked up
	// by its key row by row too: as a join, the planner, expecting one
	// row of the arrays, may scan all the user's contacts for each.
	link := `with linked as (
			insert into email_contacts (email_id, contact_id, user_id, role)
			select t.eid, t.contact_id, $1, t.role
			from (
				select t.eid, t.role,
					(select c.id from contacts c where c.user_id = $1 and lower(c.email) = t.email) as contact_id
				from unnest($2::uuid[], $3::text[], $4::text[]) as t(eid, email, role)
				where (select e.user_id from emails e where e.id = t.eid) = $1
			) t
			where t.contact_id is not null
			on conflict (email_id, contact_id) do nothing
			returning email_id, contact_id, role
		), counted as (
			update contacts set interaction_count = interaction_count + l.n,
				last_interaction_at = greatest(last_interaction_at, l.last),
				first_interaction_at = least(first_interaction_at, l.first),
				emails_sent = emails_sent + l.sent,
				emails_received = emails_received + l.received
			from (select linked.contact_id, count(*) as n, max(a.at) as last, min(a.at) as first,
					count(*) filter (where x.sent and linked.role <> 'from') as sent,
					count(*) filter (where not (x.sent and linked.role <> 'from')) as received
				from linked join unnest($5::uuid[], $6::timestamptz[]) as a(eid, at) on a.eid = linked.email_id
				cross join lateral (select coalesce((select 'SENT' = any(e.labels) from emails e where e.id = linked.email_id), false) as sent) x
				group by linked.contact_id) l
			where contacts.id = l.contact_id
		)
		select email_id, count(*) from linked group by email_id`

	b := &pgx.Batch{}
	b.Queue(upsert, userID, ids, emails, names, eids)
	b.Queue(link, userID, eids, emails, roles, atIDs, at)
	var upserted int64
	linked := map[uuid.UUID]int{}
	err := s.atomically(ctx, b, func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		if err != nil {
			return fmt.Errorf("upsert contacts: %w", db.Err(err, "contact"))
		}
		upserted = tag.RowsAffected()
		rows, err := br.Query()
		if err == nil {
			linked = map[uuid.UUID]int{}
			for rows.Next() {
				var id uuid.UUID
				var n int
				if err = rows.Scan(&id, &n); err != nil {
					break
				}
				linked[id] = n
			}
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
		}
		if err != nil {
			return fmt.Errorf("link contacts to %d emails: %w", len(atIDs), db.Err(err, "email"))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, in := range ins {
		out[i].Linked = linked[in.EmailID]
	}
	if upserted > 0 || len(linked) > 0 {
		s.changed(ctx, userID)
	}
	return out, nil
}
