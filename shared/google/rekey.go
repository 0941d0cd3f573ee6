package google

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/sealbox"
)

// DefaultRekeyBatch is how many accounts Rekey reads at a time when
// RekeyOptions.BatchSize is not set.
const DefaultRekeyBatch = 100

// RekeyOptions tune Rekey.
type RekeyOptions struct {
	// BatchSize bounds how many account ids one query returns; 0 is
	// DefaultRekeyBatch.
	BatchSize int
	// Log receives one warning per token no key of the ring opens; nil
	// logs nothing.
	Log *slog.Logger
}

// RekeyReport says what Rekey did, in accounts.
type RekeyReport struct {
	// Reencrypted accounts had their stale tokens sealed again with the
	// newest key.
	Reencrypted int64 `json:"reencrypted"`
	// Undecryptable accounts hold a token that no key of the ring opens;
	// it is left as it is, their other stale tokens are sealed again, and
	// they are not counted in Reencrypted.
	Undecryptable int64 `json:"undecryptable"`
	// Stale accounts still hold a token sealed with another key than the
	// newest once the run is over. When it is 0 the older keys open
	// nothing and can be removed from the ring.
	Stale int64 `json:"stale"`
}

// sealedColumns are the columns of accounts that hold sealed values.
var sealedColumns = [...]string{colAccess, colRefresh, colID}

// staleWhere is true for a Google account with a sealed value that does
// not begin with $1, the ring's prefix for the newest key.
const staleWhere = `provider = '` + Provider + `' and (
	substring(access_token for length($1::bytea)) <> $1::bytea or
	substring(refresh_token for length($1::bytea)) <> $1::bytea or
	substring(id_token for length($1::bytea)) <> $1::bytea)`

// Rekey seals again, with the ring's newest key, every Google account
// token sealed with an older one, so that the older keys can then be
// removed. It walks the stale accounts in batches by id; each account is
// sealed again in its own short transaction under the account row's lock,
// the lock Token holds while it refreshes, so a refresh and a re-sealing
// never overwrite each other's tokens. Values are opened with their
// account's additional data and only those still stale under the lock are
// sealed again: running it twice changes nothing the second time.
//
// A token no key of the ring opens is counted, logged by account id and
// column (never its value) and left as it is. Errors: the database's, with
// the counts so far.
func Rekey(ctx context.Context, store Store, box *sealbox.Box, o RekeyOptions) (RekeyReport, error) {
	batch := o.BatchSize
	if batch <= 0 {
		batch = DefaultRekeyBatch
	}
	log := o.Log
	if log == nil {
		log = logging.Discard()
	}
	prefix := box.Prefix()
	var r RekeyReport
	var after uuid.UUID // the nil UUID sorts first
	for {
		ids, err := staleBatch(ctx, store, prefix, after, batch)
		if err != nil {
			return r, err
		}
		for _, id := range ids {
			sealed, undecryptable, err := rekeyAccount(ctx, store, box, log, id)
			if err != nil {
				return r, err
			}
			switch {
			case undecryptable:
				r.Undecryptable++
			case sealed:
				r.Reencrypted++
			}
		}
		if len(ids) < batch {
			break
		}
		after = ids[len(ids)-1]
	}
	err := store.QueryRow(ctx, `select count(*) from accounts where `+staleWhere, prefix).Scan(&r.Stale)
	if err != nil {
		return r, fmt.Errorf("count accounts with stale tokens: %w", db.Err(err, "account"))
	}
	return r, nil
}

func staleBatch(ctx context.Context, q db.Querier, prefix []byte, after uuid.UUID, n int) ([]uuid.UUID, error) {
	rows, err := q.Query(ctx, `select id from accounts where id > $2 and `+staleWhere+` order by id limit $3`, prefix, after, n)
	if err != nil {
		return nil, fmt.Errorf("find accounts with stale tokens: %w", db.Err(err, "account"))
	}
	ids := make([]uuid.UUID, 0, n)
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("find accounts with stale tokens: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find accounts with stale tokens: %w", db.Err(err, "account"))
	}
	return ids, nil
}

// rekeyAccount seals the account's stale tokens again under its row lock.
// It reports whether it sealed any, and whether one of them does not open.
// An account that is gone, or no longer stale once locked, is left alone.
func rekeyAccount(ctx context.Context, store Store, box *sealbox.Box, log *slog.Logger, id uuid.UUID) (sealed, undecryptable bool, err error) {
	err = db.InTx(ctx, store, func(tx db.Tx) error {
		sealed, undecryptable = false, false // InTx may run this twice
		var vals [len(sealedColumns)][]byte
		err := tx.QueryRow(ctx, `select access_token, refresh_token, id_token from accounts where id = $1 for update`, id).
			Scan(&vals[0], &vals[1], &vals[2])
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return db.Err(err, "account")
		}
		for i, col := range sealedColumns {
			if vals[i] == nil || !box.Stale(vals[i]) {
				continue
			}
			ad := AdditionalData(id, col)
			plain, err := box.Open(vals[i], ad)
			if err != nil {
				undecryptable = true
				keyID, _ := sealbox.KeyID(vals[i])
				log.WarnContext(ctx, "stored token opens with no configured key; left as it is",
					"account_id", id, "column", col, "key_id", keyID)
				continue
			}
			vals[i] = box.Seal(plain, ad)
			sealed = true
		}
		if !sealed {
			return nil
		}
		_, err = tx.Exec(ctx, `update accounts set access_token = $2, refresh_token = $3, id_token = $4, updated_at = now() where id = $1`,
			id, vals[0], vals[1], vals[2])
		return db.Err(err, "account")
	})
	if err != nil {
		return false, false, fmt.Errorf("seal tokens of account %s again: %w", id, err)
	}
	return sealed, undecryptable, nil
}
