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
// emails of one user, in one transaction of two batches: a page of
// mail costs about what one email does. An address met in several of the
// emails takes the first display name they give it; its contact counts
// one interaction per email newly linked (and the emails sent and
// received among them), and its first and last interaction move to the
// earliest and latest of them. An email given twice is recorded once.
//
// It is idempotent as RecordInteraction is, and RecordInteraction is this
// for one email, so the two lock contacts in one order and can run
// concurrently. It returns what it changed for each email, in the order
// of ins; an email that is gone, or is not the user's, records nothing
// and is no error.
func (s *Service) RecordInteractions(ctx context.Context, userID uuid.UUID, ins []Interaction) ([]Recorded, error) {
	out := make([]Recorded, len(ins))
	linked, _, err := s.record(ctx, userID, ins)
	if err != nil {
		return nil, err
	}
	for i, in := range ins {
		out[i].Linked = linked[in.EmailID]
	}
	return out, nil
}

// record records ins (see RecordInteractions) and returns how many
// participants each email newly linked, and whether anything changed.
//
// A contact's row is locked only for the last statement: the contacts
// are created first where missing (a new row is its writer's until it
// commits, and rows are inserted in address order), then the emails are
// linked to them (the links' foreign-key checks lock the contacts FOR KEY
// SHARE, which no writer of counts or names conflicts with), and only
// then are the contacts of the new links, and those that take a display
// name, locked FOR NO KEY UPDATE in address order (as Recount locks them)
// and given the counts of the links this transaction inserted. A link
// another transaction inserted first is left to it: the insert waits for
// that transaction and then does nothing, so each link is counted once,
// by whoever inserted it.
func (s *Service) record(ctx context.Context, userID uuid.UUID, ins []Interaction) (map[uuid.UUID]int, bool, error) {
	// One row per participant of each email, in the order given. Ids as
	// text: statements are not described first (see db.Open).
	var ids, emails, roles, eids []string
	var names []*string
	at := map[uuid.UUID]time.Time{}
	for _, in := range ins {
		if _, seen := at[in.EmailID]; seen {
			continue
		}
		ps := dedupe(in.Participants)
		if len(ps) == 0 {
			continue
		}
		at[in.EmailID] = in.At
		eid := in.EmailID.String()
		for _, p := range ps {
			id, err := uuid.NewV7()
			if err != nil {
				return nil, false, err
			}
			var name *string
			if p.Name != "" {
				name = &p.Name
			}
			ids, emails, names, roles, eids = append(ids, id.String()), append(emails, p.Email), append(names, name), append(roles, p.Role), append(eids, eid)
		}
	}
	if len(ids) == 0 {
		return map[uuid.UUID]int{}, false, nil
	}

	// The emails are looked up by primary key row by row (a scalar
	// subquery, never a join), so that the plan does not depend on the
	// statistics of a table a new user's sync grows fast.
	//
	// One row per address of the user's emails, with its first display
	// name; missing contacts are inserted in address order (bytes), and
	// an existing one is neither changed nor locked here.
	named := `select distinct on (t.email) t.id, t.email, t.name
		from unnest($2::uuid[], $3::text[], $4::text[], $5::uuid[]) with ordinality as t(id, email, name, eid, n)
		where (select e.user_id from emails e where e.id = t.eid) = $1
		order by t.email, t.name is null, t.n`
	create := `insert into contacts (id, user_id, email, name, name_source)
		select t.id, $1, t.email, t.name, case when t.name is not null then 'email' end
		from (` + named + `) t
		order by t.email collate "C"
		on conflict (user_id, lower(email)) where email is not null do nothing`
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
			order by t.eid, t.contact_id
			on conflict (email_id, contact_id) do nothing
			returning email_id, contact_id, role
		)
		select l.email_id, l.contact_id,
			coalesce((select 'SENT' = any(e.labels) from emails e where e.id = l.email_id), false) and l.role <> 'from' as sent
		from linked l`
	// The existing contacts that may take a display name (checked again
	// once locked), looked up by key row by row too.
	unnamed := `select t.id, t.name
		from (select t.name,
				(select c.id from contacts c where c.user_id = $1 and lower(c.email) = t.email and ` + mayFill + `) as id
			from (` + named + `) t
			where t.name is not null) t
		where t.id is not null`

	type figures struct {
		n, sent     int
		first, last time.Time
		name        *string
	}
	var changed bool
	var linked map[uuid.UUID]int
	err := db.InTx(ctx, s.db, func(tx db.Tx) error {
		changed, linked = false, map[uuid.UUID]int{}
		fig := map[uuid.UUID]*figures{}
		b := &pgx.Batch{}
		b.Queue(create, userID, ids, emails, names, eids)
		b.Queue(link, userID, eids, emails, roles)
		b.Queue(unnamed, userID, ids, emails, names, eids)
		err := readBatch(tx.SendBatch(ctx, b), func(br pgx.BatchResults) error {
			tag, err := br.Exec()
			if err != nil {
				return fmt.Errorf("create contacts: %w", db.Err(err, "contact"))
			}
			changed = tag.RowsAffected() > 0
			var email, contact uuid.UUID
			var sent bool
			rows, err := queryRows(br)
			if err == nil {
				_, err = pgx.ForEachRow(rows, []any{&email, &contact, &sent}, func() error {
					linked[email]++
					f := fig[contact]
					if f == nil {
						f = &figures{first: at[email], last: at[email]}
						fig[contact] = f
					}
					f.n++
					if sent {
						f.sent++
					}
					if t := at[email]; t.Before(f.first) {
						f.first = t
					} else if t.After(f.last) {
						f.last = t
					}
					return nil
				})
			}
			if err != nil {
				return fmt.Errorf("link contacts to %d emails: %w", len(at), db.Err(err, "email"))
			}
			var name string
			if rows, err = queryRows(br); err == nil {
				_, err = pgx.ForEachRow(rows, []any{&contact, &name}, func() error {
					f := fig[contact]
					if f == nil {
						f = &figures{}
						fig[contact] = f
					}
					v := name
					f.name = &v
					return nil
				})
			}
			if err != nil {
				return fmt.Errorf("read unnamed contacts: %w", db.Err(err, "contact"))
			}
			return nil
		})
		if err != nil || len(fig) == 0 {
			return err
		}

		// The contacts to change, locked in one order, then changed.
		var cids []string
		var ns, sents []int
		var firsts, lasts []*time.Time
		var fills []*string
		for id, f := range fig {
			cids, ns, sents, fills = append(cids, id.String()), append(ns, f.n), append(sents, f.sent), append(fills, f.name)
			if f.n > 0 {
				firsts, lasts = append(firsts, &f.first), append(lasts, &f.last)
			} else {
				firsts, lasts = append(firsts, nil), append(lasts, nil)
			}
		}
		b = &pgx.Batch{}
		b.Queue(`select id from contacts where user_id = $1 and id = any($2::uuid[])
			order by lower(email) collate "C" nulls last, id for no key update`, userID, cids)
		b.Queue(`update contacts c set interaction_count = c.interaction_count + f.n,
				last_interaction_at = greatest(c.last_interaction_at, f.last),
				first_interaction_at = least(c.first_interaction_at, f.first),
				emails_sent = c.emails_sent + f.sent,
				emails_received = c.emails_received + f.n - f.sent,
				name = case when `+fill+` then f.name else c.name end,
				name_source = case when `+fill+` then 'email' else c.name_source end
			from unnest($2::uuid[], $3::int[], $4::int[], $5::timestamptz[], $6::timestamptz[], $7::text[]) as f(id, n, sent, first, last, name)
			where c.user_id = $1 and c.id = f.id and (f.n > 0 or `+fill+`)`,
			userID, cids, ns, sents, firsts, lasts, fills)
		return readBatch(tx.SendBatch(ctx, b), func(br pgx.BatchResults) error {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("lock contacts: %w", db.Err(err, "contact"))
			}
			tag, err := br.Exec()
			if err != nil {
				return fmt.Errorf("count interactions: %w", db.Err(err, "contact"))
			}
			changed = changed || tag.RowsAffected() > 0
			return nil
		})
	})
	if err != nil {
		return nil, false, err
	}
	changed = changed || len(linked) > 0
	if changed {
		s.changed(ctx, userID)
	}
	return linked, changed, nil
}
