package email

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/feature"
)

// PushAccounts returns the accounts whose mailbox is address (in any
// case) and that take Gmail push notifications: they can sync and their
// user has the webhooks feature on. A mailbox is its user's address, which
// follows their Google account's at each sign-in. The environment's gate
// is the caller's to check.
func (s *Syncs) PushAccounts(ctx context.Context, address string) ([]Account, error) {
	rows, err := s.db.Query(ctx, `select a.id, a.user_id from accounts a join users u on u.id = a.user_id
		where lower(u.email) = lower($1) and (u.features -> $2) = 'true'::jsonb and `+canSync+`
		order by a.id`, strings.TrimSpace(address), string(feature.Webhooks))
	if err != nil {
		return nil, db.Err(err, "account")
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Account])
	return out, db.Err(err, "account")
}

// PushAccountsAfter returns, by id, up to limit accounts with an id above
// after that take Gmail push notifications: they can sync and their user
// has the webhooks feature on. The environment's gate is the caller's to
// check.
func (s *Syncs) PushAccountsAfter(ctx context.Context, after uuid.UUID, limit int) ([]Account, error) {
	rows, err := s.db.Query(ctx, `select a.id, a.user_id from accounts a join users u on u.id = a.user_id
		where a.id > $1 and (u.features -> $2) = 'true'::jsonb and `+canSync+`
		order by a.id limit $3`, after, string(feature.Webhooks), limit)
	if err != nil {
		return nil, db.Err(err, "account")
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Account])
	return out, db.Err(err, "account")
}
