package user

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/google"
)

// Grants end people's Google grants and forget their tokens
// (google.Tokens does).
type Grants interface {
	EndGrant(ctx context.Context, userID, accountID uuid.UUID) (google.Ending, error)
	Forget(ctx context.Context, q db.Querier, userID, accountID uuid.UUID) (time.Time, error)
}

// Data carries out what people decide about their own data: disconnecting
// their Google account, deleting their account and everything in it, and
// taking a copy of it (Export).
type Data struct {
	db     Store
	grants Grants
}

// NewData returns the service on store, ending grants with grants (nil for
// a service that only exports).
func NewData(store Store, grants Grants) *Data { return &Data{db: store, grants: grants} }

// Revocation sums up, for the person, what Google said about their
// grants: google.Revoked when it confirmed every one is gone,
// google.Unconfirmed when it did not answer for one (or refused), and
// google.NothingToRevoke when there was no token to revoke.
type Revocation = google.Revocation

// Disconnection is what disconnecting came to.
type Disconnection struct {
	// DisconnectedAt is when the account was disconnected: now, or when
	// an earlier request did it.
	DisconnectedAt time.Time
	Revocation     Revocation
	// Err says, for the log, why Google did not confirm; nil when it did.
	Err error
}

var errNoGoogle = &errs.Error{Kind: errs.KindNotFound, Message: "No Google account is connected to this user"}

// Disconnect disconnects the user's Google account: it ends the grant at
// Google (google.Tokens.EndGrant: the Gmail watch stopped, the grant
// revoked), then deletes the stored tokens, whatever Google answered, so
// that nothing syncs, watches or reads the account any more. The user's
// contacts, mail and insights stay, and signing in with Google connects
// the account again. A second call finds the account disconnected and
// changes nothing. Errors: NotFound when the user has no Google account.
func (d *Data) Disconnect(ctx context.Context, userID uuid.UUID) (Disconnection, error) {
	accounts, err := d.googleAccounts(ctx, userID)
	if err != nil {
		return Disconnection{}, err
	}
	if len(accounts) == 0 {
		return Disconnection{}, errNoGoogle
	}
	out := Disconnection{Revocation: google.NothingToRevoke}
	for _, a := range accounts {
		e, err := d.grants.EndGrant(ctx, userID, a)
		if err != nil {
			return Disconnection{}, err
		}
		out.Revocation = worse(out.Revocation, e.Revocation)
		out.Err = errors.Join(out.Err, e.Err)
		// Each account in its own statement: one that is forgotten is
		// disconnected whatever happens to the next.
		at, err := d.grants.Forget(ctx, nil, userID, a)
		if err != nil {
			return Disconnection{}, err
		}
		if out.DisconnectedAt.IsZero() {
			out.DisconnectedAt = at
		}
	}
	return out, nil
}

// worse is the outcome that says less of a and b: unconfirmed over
// revoked over nothing to revoke.
func worse(a, b Revocation) Revocation {
	rank := map[Revocation]int{google.NothingToRevoke: 0, google.Revoked: 1, google.Unconfirmed: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func (d *Data) googleAccounts(ctx context.Context, userID uuid.UUID) ([]uuid.UUID, error) {
	rows, err := d.db.Query(ctx, `select id from accounts where user_id = $1 and provider = $2 order by created_at, id`, userID, google.Provider)
	if err != nil {
		return nil, db.Err(err, "account")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	return ids, db.Err(err, "account")
}

// Deletion is what deleting a user came to.
type Deletion struct {
	Revocation Revocation
	// Err says, for the log, why Google did not confirm; nil when it did.
	Err error
	// SessionHashes are the stored hashes of the sessions that ended with
	// the user, for dropping what caches hold of them.
	SessionHashes [][]byte
}

// Delete deletes user id and everything that is theirs. First it ends
// their Google grants at Google (google.Tokens.EndGrant), as far as
// Google answers: a person who asks to be deleted is deleted even while
// Google is down, and their tokens go with their account. Then, in one
// transaction, the user row goes, and with it, by the schema's cascading
// foreign keys, every row that belongs to them: accounts and their tokens,
// sessions, contacts, emails and their links to contacts, sync state,
// insights and jobs (so their queued jobs find no row and end without
// effect). Errors: NotFound (no such user).
func (d *Data) Delete(ctx context.Context, id uuid.UUID) (Deletion, error) {
	accounts, err := d.googleAccounts(ctx, id)
	if err != nil {
		return Deletion{}, err
	}
	out := Deletion{Revocation: google.NothingToRevoke}
	for _, a := range accounts {
		e, err := d.grants.EndGrant(ctx, id, a)
		if err != nil && !errs.Is(err, errs.KindNotFound) {
			return Deletion{}, err
		}
		out.Revocation = worse(out.Revocation, e.Revocation)
		out.Err = errors.Join(out.Err, e.Err)
	}
	err = db.InTx(ctx, d.db, func(tx db.Tx) error {
		// The lock makes writes that refer to the user wait, and then
		// fail: nothing of theirs is written after this.
		var found uuid.UUID
		if err := tx.QueryRow(ctx, `select id from users where id = $1 for update`, id).Scan(&found); err != nil {
			return db.Err(err, "user")
		}
		rows, err := tx.Query(ctx, `select token_hash from sessions where user_id = $1`, id)
		if err != nil {
			return db.Err(err, "session")
		}
		if out.SessionHashes, err = pgx.CollectRows(rows, pgx.RowTo[[]byte]); err != nil {
			return db.Err(err, "session")
		}
		if _, err := tx.Exec(ctx, `delete from users where id = $1`, id); err != nil {
			return db.Err(err, "user")
		}
		return nil
	})
	if err != nil {
		return Deletion{}, fmt.Errorf("delete user %s: %w", id, err)
	}
	return out, nil
}
