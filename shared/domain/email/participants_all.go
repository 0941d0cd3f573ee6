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
	users, ids := make([]string, len(refs)), make([]string, len(refs))
	for i, r := range refs {
		users[i], ids[i] = r.UserID.String(), r.EmailID.String()
	}
	rows, err := s.db.Query(ctx, `select `+s.table.Columns()+`, (select email from users where id = emails.user_id) as owner_address
		from emails where (user_id, id) in (select * from unnest($1::uuid[], $2::uuid[]))`, users, ids)
	if err != nil {
		return nil, db.Err(err, "email")
	}
	found, err := pgx.CollectRows(rows, pgx.RowToStructByName[withOwner])
	if err != nil {
		return nil, db.Err(err, "email")
	}
	out := make(map[uuid.UUID]Exchange, len(found))
	for _, e := range found {
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
