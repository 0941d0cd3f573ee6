package meeting

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/queue"
)

// SyncJob syncs one Google account's calendar: the calendar-sync job.
type SyncJob struct {
	UserID    uuid.UUID `json:"userId"`
	AccountID uuid.UUID `json:"accountId"`
	// Full re-reads the whole window instead of the changes since the
	// last sync.
	Full bool `json:"full,omitempty"`
}

// Kind implements queue.Payload.
func (SyncJob) Kind() string { return catalog.CalendarSync }

// Owner implements queue.Owned.
func (p SyncJob) Owner() uuid.UUID { return p.UserID }

// Validate implements queue.Payload.
func (p SyncJob) Validate() error {
	f := errs.Fields{}
	if p.UserID == uuid.Nil {
		f.Add("userId", "is required")
	}
	if p.AccountID == uuid.Nil {
		f.Add("accountId", "is required")
	}
	return f.Err()
}

// Sync states.
const (
	StatusNew    = "new"
	StatusFull   = "full"
	StatusSynced = "synced"
)

// SyncState is where the calendar sync of one account stands.
type SyncState struct {
	AccountID, UserID uuid.UUID
	Status            string
	// SyncToken is Google's nextSyncToken: where the next incremental
	// sync starts.
	SyncToken string
	// PageToken is the next page of the full sync in progress, over
	// WindowStart to WindowEnd; empty for its first.
	PageToken              string
	WindowStart, WindowEnd *time.Time
	// Generation counts the account's full syncs.
	Generation   int
	LastSyncedAt *time.Time
}

// ErrSyncBusy says that another run is syncing the account's calendar.
var ErrSyncBusy = errs.Unavailable("Calendar sync", errors.New("another run holds the account's calendar sync"))

// Acquire holds the calendar sync of the user's account for lease and
// returns its state: a new account's is StatusNew. Errors: NotFound (no
// such account of this user); ErrSyncBusy while another run holds it.
func (s *Service) Acquire(ctx context.Context, userID, accountID uuid.UUID, lease time.Duration) (SyncState, error) {
	st := SyncState{AccountID: accountID, UserID: userID}
	var token, page *string
	err := s.db.QueryRow(ctx, `insert into calendar_sync_state (account_id, user_id, locked_until)
			select id, user_id, now() + $3::interval from accounts where id = $2 and user_id = $1
		on conflict (account_id) do update set locked_until = excluded.locked_until, updated_at = now()
			where calendar_sync_state.locked_until is null or calendar_sync_state.locked_until < now()
		returning status, sync_token, page_token, window_start, window_end, generation, last_synced_at`, userID, accountID, lease).
		Scan(&st.Status, &token, &page, &st.WindowStart, &st.WindowEnd, &st.Generation, &st.LastSyncedAt)
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
	st.SyncToken, st.PageToken = deref(token), deref(page)
	return st, nil
}

// SaveState records st in q (the transaction that applied the page it
// covers); synced marks a sync that came up to date.
func (s *Service) SaveState(ctx context.Context, q db.Querier, st SyncState, synced bool) error {
	_, err := q.Exec(ctx, `update calendar_sync_state set status = $2, sync_token = $3, page_token = $4,
			window_start = $5, window_end = $6, generation = $7,
			last_synced_at = case when $8 then now() else last_synced_at end, updated_at = now()
		where account_id = $1`,
		st.AccountID, st.Status, nullable(st.SyncToken), nullable(st.PageToken), st.WindowStart, st.WindowEnd, st.Generation, synced)
	return db.Err(err, "calendar sync state")
}

// Release lets other runs sync the account's calendar.
func (s *Service) Release(ctx context.Context, accountID uuid.UUID) error {
	_, err := s.db.Exec(ctx, `update calendar_sync_state set locked_until = null where account_id = $1`, accountID)
	return db.Err(err, "calendar sync state")
}

// SyncKey is the singleton key of an account's calendar syncs: one waits
// or runs at a time.
func SyncKey(accountID uuid.UUID) string { return "calendar:" + accountID.String() }

// ContinueKey is the singleton key of the job that continues an
// account's calendar sync from position, where a run stopped. Google's
// page and sync tokens are long, so the key holds a digest of position.
func ContinueKey(accountID uuid.UUID, position string) string {
	sum := sha256.Sum256([]byte(position))
	return "calendar:" + accountID.String() + ":from:" + hex.EncodeToString(sum[:12])
}

// canSync holds for an accounts row (as a) whose calendar can be synced:
// a connected Google account with a refresh token, calendar read access
// granted and no need for consent again.
const canSync = `a.provider = '` + google.Provider + `' and a.refresh_token is not null and not a.needs_reconsent
	and a.disconnected_at is null and string_to_array(a.scope, ' ') && $calendar_scopes::text[]`

// withScopes puts the calendar's scopes, constants, into sql.
func withScopes(sql string) string {
	return strings.ReplaceAll(sql, "$calendar_scopes", "'{"+strings.Join(google.Calendar.Scopes, ",")+"}'")
}

func enqueue(ctx context.Context, tx *queue.Tx, userID, accountID uuid.UUID, full bool) (queue.Job, error) {
	return tx.Enqueue(ctx, SyncJob{UserID: userID, AccountID: accountID, Full: full}, queue.Singleton(SyncKey(accountID)))
}

// RequestSync enqueues a calendar sync of each of the user's Google
// accounts that can sync, one waiting or running per account: while one
// is, it is returned instead. full re-reads the whole window. It returns
// the job of the user's first account. Errors: NotFound (no Google
// account); Forbidden when the account was disconnected, its access must
// be granted again (*google.ReconsentError), or its grant leaves the
// calendar out (*google.NotGrantedError): a sync could only fail.
func (s *Service) RequestSync(ctx context.Context, userID uuid.UUID, full bool) (queue.Job, error) {
	rows, err := s.db.Query(ctx, `select id, needs_reconsent or refresh_token is null, coalesce(scope, ''), disconnected_at is not null
		from accounts where user_id = $1 and provider = $2 order by created_at, id`, userID, google.Provider)
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
	first := accounts[0]
	switch {
	case first.Disconnected:
		return queue.Job{}, &google.DisconnectedError{AccountID: first.ID}
	case first.Gone:
		return queue.Job{}, &google.ReconsentError{AccountID: first.ID}
	case !google.Calendar.Granted(first.Scope):
		return queue.Job{}, google.Calendar.NotGranted(first.ID)
	}
	var out queue.Job
	err = s.queue.InTx(ctx, func(tx *queue.Tx) error {
		for i, a := range accounts {
			if a.Gone || a.Disconnected || !google.Calendar.Granted(a.Scope) {
				continue
			}
			j, err := enqueue(ctx, tx, userID, a.ID, full)
			if err != nil {
				return err
			}
			if i == 0 {
				out = j
			}
		}
		return nil
	})
	return out, err
}

// SyncAfterSignIn enqueues in tx, the transaction of a sign-in that has
// stored the account's tokens, a calendar sync of the user's account when
// it granted the calendar. It reports whether the account can sync.
func (s *Service) SyncAfterSignIn(ctx context.Context, tx *queue.Tx, userID, accountID uuid.UUID) (bool, error) {
	var ok bool
	err := tx.QueryRow(ctx, withScopes(`select exists (select 1 from accounts a where a.id = $1 and a.user_id = $2 and `+canSync+`)`),
		accountID, userID).Scan(&ok)
	if err != nil || !ok {
		return false, db.Err(err, "account")
	}
	_, err = enqueue(ctx, tx, userID, accountID, false)
	return true, err
}

// DueBatch is how many accounts one transaction of RequestDue enqueues.
const DueBatch = 200

// RequestDue enqueues an incremental calendar sync of every account that
// can sync whose last calendar sync came up to date before before (or
// never did) and that no run holds, by account id in batches of DueBatch,
// each in one transaction, until stop (zero: no limit). It returns how
// many it enqueued; the others had one waiting or running already.
func (s *Service) RequestDue(ctx context.Context, before, stop time.Time) (int, error) {
	n := 0
	after := uuid.Nil
	for stop.IsZero() || time.Now().Before(stop) {
		rows, err := s.db.Query(ctx, withScopes(`select a.id, a.user_id from accounts a
				left join calendar_sync_state s on s.account_id = a.id
			where a.id > $1 and `+canSync+`
				and (s.last_synced_at is null or s.last_synced_at < $2)
				and (s.locked_until is null or s.locked_until < now())
			order by a.id limit $3`), after, before, DueBatch)
		if err != nil {
			return n, db.Err(err, "account")
		}
		type account struct{ ID, UserID uuid.UUID }
		due, err := pgx.CollectRows(rows, pgx.RowToStructByPos[account])
		if err != nil || len(due) == 0 {
			return n, db.Err(err, "account")
		}
		added := 0
		err = s.queue.InTx(ctx, func(tx *queue.Tx) error {
			added = 0 // InTx may run this twice
			for _, a := range due {
				j, err := enqueue(ctx, tx, a.UserID, a.ID, false)
				if err != nil {
					return err
				}
				if !j.Existing {
					added++
				}
			}
			return nil
		})
		n += added
		if err != nil || len(due) < DueBatch {
			return n, err
		}
		after = due[len(due)-1].ID
	}
	return n, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
