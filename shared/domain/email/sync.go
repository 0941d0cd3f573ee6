package email

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/queue"
)

// Save stores a synced message of userID's account f.AccountID in q (the
// caller's transaction), once per (account, provider id): a message
// stored before keeps its id and row, with its labels and snippet brought
// up to date. New reports whether the message was stored now. Errors:
// NotFound (no such account or user).
func (s *Service) Save(ctx context.Context, q db.Querier, userID uuid.UUID, f Fields) (e Email, isNew bool, err error) {
	if f.AccountID == nil || f.ProviderID == "" {
		return Email{}, false, errors.New("save email: a synced message needs its account and provider id")
	}
	vals, err := f.values()
	if err != nil {
		return Email{}, false, err
	}
	cols := []string{"user_id"}
	marks := []string{"$1"}
	args := []any{userID}
	for _, v := range vals {
		args = append(args, v.Value)
		cols = append(cols, v.Column)
		marks = append(marks, fmt.Sprintf("$%d", len(args)))
	}
	// xmax is 0 on a row this statement inserted, and set on one it
	// updated.
	sql := `insert into emails (` + strings.Join(cols, ", ") + `) values (` + strings.Join(marks, ", ") + `)
		on conflict (account_id, provider_id) where account_id is not null and provider_id is not null
		do update set labels = excluded.labels, snippet = excluded.snippet, updated_at = now()
			where emails.user_id = excluded.user_id
		returning ` + s.table.Columns() + `, xmax = 0 as inserted`
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return Email{}, false, db.Err(err, "email")
	}
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[saved])
	if err != nil {
		return Email{}, false, db.Err(err, "email")
	}
	return out.Email, out.Inserted, nil
}

type saved struct {
	Email
	Inserted bool `db:"inserted"`
}

// SyncState is where the sync of one account stands.
type SyncState struct {
	AccountID uuid.UUID
	UserID    uuid.UUID
	// HistoryID is where the next incremental sync starts; empty before
	// the first full sync ends.
	HistoryID string
	// FullHistoryID is set while a full sync is in progress: the
	// mailbox's history id when it started. PageToken is its next page
	// (empty for the first) and Listed how many messages it has listed.
	FullHistoryID string
	PageToken     string
	Listed        int
	LastSyncedAt  *time.Time
}

// Full reports whether a full sync is in progress.
func (s SyncState) Full() bool { return s.FullHistoryID != "" }

// Syncs keeps the sync state of accounts and takes requests to sync.
type Syncs struct {
	db    Store
	queue *queue.Queue
}

// NewSyncs returns the sync states on store; requests are enqueued on q.
func NewSyncs(store Store, q *queue.Queue) *Syncs { return &Syncs{db: store, queue: q} }

// ErrSyncBusy says that another run is syncing the account.
var ErrSyncBusy = errs.Unavailable("Mail sync", errors.New("another run holds the account's sync"))

// Acquire holds the sync of the user's account for lease and returns its
// state: a new account's is empty. Errors: NotFound (no such account of
// this user); ErrSyncBusy while another run holds it.
func (s *Syncs) Acquire(ctx context.Context, userID, accountID uuid.UUID, lease time.Duration) (SyncState, error) {
	st := SyncState{AccountID: accountID, UserID: userID}
	var history, full, page *string
	err := s.db.QueryRow(ctx, `insert into sync_state (account_id, user_id, locked_until)
			select id, user_id, now() + $3::interval from accounts where id = $2 and user_id = $1
		on conflict (account_id) do update set locked_until = excluded.locked_until, updated_at = now()
			where sync_state.locked_until is null or sync_state.locked_until < now()
		returning history_id, full_history_id, page_token, listed, last_synced_at`, userID, accountID, lease).
		Scan(&history, &full, &page, &st.Listed, &st.LastSyncedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		var exists bool
		if err := s.db.QueryRow(ctx, `select exists (select 1 from accounts where id = $2 and user_id = $1)`, userID, accountID).Scan(&exists); err != nil {
			return st, db.Err(err, "account")
		}
		if !exists {
			return st, errs.NotFound("account")
		}
		return st, ErrSyncBusy
	}
	if err != nil {
		return st, db.Err(err, "account")
	}
	st.HistoryID, st.FullHistoryID, st.PageToken = deref(history), deref(full), deref(page)
	return st, nil
}

// Save records st in q (the transaction that stored the messages it
// covers); synced marks a sync that came up to date.
func (s *Syncs) Save(ctx context.Context, q db.Querier, st SyncState, synced bool) error {
	_, err := q.Exec(ctx, `update sync_state set history_id = $2, full_history_id = $3, page_token = $4, listed = $5,
			last_synced_at = case when $6 then now() else last_synced_at end, updated_at = now()
		where account_id = $1`,
		st.AccountID, nullable(st.HistoryID), nullable(st.FullHistoryID), nullable(st.PageToken), st.Listed, synced)
	return db.Err(err, "sync state")
}

// Release lets other runs sync the account.
func (s *Syncs) Release(ctx context.Context, accountID uuid.UUID) error {
	_, err := s.db.Exec(ctx, `update sync_state set locked_until = null where account_id = $1`, accountID)
	return db.Err(err, "sync state")
}

// SyncKey is the singleton key of an account's sync requests: one waits
// or runs at a time.
func SyncKey(accountID uuid.UUID) string { return "account:" + accountID.String() }

// ContinueKey is the singleton key of the job that continues an
// account's sync from position, where a run stopped: a run that enqueues
// the next part holds its own key, so each part has its own.
func ContinueKey(accountID uuid.UUID, position string) string {
	return "account:" + accountID.String() + ":from:" + position
}

// RequestSync enqueues a sync of each of the user's Google accounts, one
// waiting or running per account: while one is, it is returned instead.
// full re-reads the mailbox. It returns the job of the user's first
// account. Errors: NotFound (no Google account, or one its person
// disconnected); Forbidden when the account's access must be granted
// again (*google.ReconsentError), or its grant leaves Gmail out
// (*google.NotGrantedError): a sync could only fail.
func (s *Syncs) RequestSync(ctx context.Context, userID uuid.UUID, full bool) (queue.Job, error) {
	rows, err := s.db.Query(ctx, `select id, needs_reconsent or refresh_token is null, coalesce(scope, ''), disconnected_at is not null from accounts
		where user_id = $1 and provider = $2 order by created_at, id`, userID, google.Provider)
	if err != nil {
		return queue.Job{}, db.Err(err, "Google account")
	}
	type account struct {
		ID           uuid.UUID
		Gone         bool
		Scope        string
		Disconnected bool
	}
	accounts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[account])
	if err != nil {
		return queue.Job{}, db.Err(err, "Google account")
	}
	if len(accounts) == 0 {
		return queue.Job{}, errs.NotFound("Google account")
	}
	if accounts[0].Disconnected {
		return queue.Job{}, &google.DisconnectedError{AccountID: accounts[0].ID}
	}
	if accounts[0].Gone {
		return queue.Job{}, &google.ReconsentError{AccountID: accounts[0].ID}
	}
	if !google.Gmail.Granted(accounts[0].Scope) {
		return queue.Job{}, google.Gmail.NotGranted(accounts[0].ID)
	}
	var first queue.Job
	err = s.queue.InTx(ctx, func(tx *queue.Tx) error {
		for i, a := range accounts {
			if a.Gone || !google.Gmail.Granted(a.Scope) {
				continue
			}
			j, err := enqueueSync(ctx, tx, userID, a.ID, full)
			if err != nil {
				return err
			}
			if i == 0 {
				first = j
			}
		}
		return nil
	})
	return first, err
}

// enqueueSync enqueues in tx a sync of the user's account, unless one
// waits or runs already: then it returns that one, with Existing set.
func enqueueSync(ctx context.Context, tx *queue.Tx, userID, accountID uuid.UUID, full bool) (queue.Job, error) {
	return tx.Enqueue(ctx, SyncJob{UserID: userID, AccountID: accountID, Full: full}, queue.Singleton(SyncKey(accountID)))
}

// canSync holds for an accounts row (as a) whose mail can be synced: a
// Google account with a refresh token, Gmail read access granted (scope
// is the space-separated list Google returned) and no need for consent
// again.
const canSync = `a.provider = '` + google.Provider + `' and a.refresh_token is not null and not a.needs_reconsent
	and '` + google.ScopeGmailReadonly + `' = any (string_to_array(a.scope, ' '))`

// SyncAfterSignIn enqueues in tx, the transaction of a sign-in that has
// stored the account's tokens, a sync of the user's account when it can
// sync, so that mail arrives without anyone asking. One sync waits or runs
// per account: signing in while one does adds none. It reports whether
// the account can sync.
func (s *Syncs) SyncAfterSignIn(ctx context.Context, tx *queue.Tx, userID, accountID uuid.UUID) (bool, error) {
	var ok bool
	err := tx.QueryRow(ctx, `select exists (select 1 from accounts a where a.id = $1 and a.user_id = $2 and `+canSync+`)`,
		accountID, userID).Scan(&ok)
	if err != nil || !ok {
		return false, db.Err(err, "account")
	}
	_, err = enqueueSync(ctx, tx, userID, accountID, false)
	return true, err
}

// Account names one user's account.
type Account struct {
	ID     uuid.UUID
	UserID uuid.UUID
}

// Due returns, by id, up to limit accounts with an id above after whose
// sync is due: they can sync, their last sync came up to date before
// before or never did, and no run holds them now.
func (s *Syncs) Due(ctx context.Context, before time.Time, after uuid.UUID, limit int) ([]Account, error) {
	rows, err := s.db.Query(ctx, `select a.id, a.user_id from accounts a
			left join sync_state s on s.account_id = a.id
		where a.id > $1 and `+canSync+`
			and (s.last_synced_at is null or s.last_synced_at < $2)
			and (s.locked_until is null or s.locked_until < now())
		order by a.id limit $3`, after, before, limit)
	if err != nil {
		return nil, db.Err(err, "account")
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Account])
	return out, db.Err(err, "account")
}

// Unsyncable counts the Google accounts that cannot sync until their
// person signs in again: the grant is gone (or never was offline) or
// leaves Gmail out. The schedule skips them.
func (s *Syncs) Unsyncable(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `select count(*) from accounts a
		where a.provider = '`+google.Provider+`' and not coalesce((`+canSync+`), false)`).Scan(&n)
	return n, db.Err(err, "account")
}

// RequestEach enqueues an incremental sync of each of accounts, in one
// transaction, one waiting or running per account. It returns how many it
// enqueued; the others had one already.
func (s *Syncs) RequestEach(ctx context.Context, accounts []Account) (int, error) {
	n := 0
	if len(accounts) == 0 {
		return 0, nil
	}
	err := s.queue.InTx(ctx, func(tx *queue.Tx) error {
		n = 0
		for _, a := range accounts {
			j, err := enqueueSync(ctx, tx, a.UserID, a.ID, false)
			if err != nil {
				return err
			}
			if !j.Existing {
				n++
			}
		}
		return nil
	})
	return n, err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Stored returns which of the provider ids the account's stored messages
// have.
func (s *Service) Stored(ctx context.Context, accountID uuid.UUID, providerIDs []string) (map[string]bool, error) {
	rows, err := s.db.Query(ctx, `select provider_id from emails where account_id = $1 and provider_id = any($2)`, accountID, providerIDs)
	if err != nil {
		return nil, db.Err(err, "email")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, db.Err(err, "email")
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}
