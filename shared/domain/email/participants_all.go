package email

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
)

// Ref names one email of one user.
type Ref struct {
	UserID, EmailID uuid.UUID
}

// ParticipantsAll does what Participants does for each of refs, in one
// query: it returns, by email id, each email with who it was exchanged
// with under policy. An email that is gone, or is not its user's, is left
// out.
func (s *Service) ParticipantsAll(ctx context.Context, refs []Ref, policy Policy) (map[uuid.UUID]Exchange, error) {
	if len(refs) == 0 {
		return map[uuid.UUID]Exchange{}, nil
	}
	// Ids as text: statements are not described first (see db.Open).
	ids := make([]string, len(refs))
	asked := make(map[Ref]bool, len(refs))
	for i, r := range refs {
		ids[i] = r.EmailID.String()
		asked[r] = true
	}
	// By id alone, so that the plan is primary key lookups however stale
	// the table's statistics (a new user's mail grows fast); the owner is
	// checked below.
	rows, err := s.db.Query(ctx, `select `+s.table.Columns()+`, (select email from users where id = emails.user_id) as owner_address
		from emails where id = any($1::uuid[])`, ids)
	if err != nil {
		return nil, db.Err(err, "email")
	}
	found, err := pgx.CollectRows(rows, pgx.RowToStructByName[withOwner])
	if err != nil {
		return nil, db.Err(err, "email")
	}
	out := make(map[uuid.UUID]Exchange, len(found))
	for _, e := range found {
		if !asked[Ref{UserID: e.UserID, EmailID: e.ID}] {
			continue
		}
		out[e.ID] = Exchange{Email: e.Email, Participants: participants(e.Email, e.own(), policy)}
	}
	return out, nil
}

// own are the user's own addresses: the account's and the mailbox's.
func (e withOwner) own() []string {
	own := []string{}
	if e.OwnerAddress != nil {
		own = append(own, *e.OwnerAddress)
	}
	if e.Mailbox != nil {
		own = append(own, *e.Mailbox)
	}
	return own
}
