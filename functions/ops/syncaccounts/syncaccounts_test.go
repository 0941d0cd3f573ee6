package syncaccounts_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/functions/ops/syncaccounts"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/testkit"
)

// TestSyncAccounts: the scheduled sync enqueues one incremental sync per
// account that can sync and is due, in batches, and nothing new when run
// again.
func TestSyncAccounts(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	user, _ := testkit.User(t, pool, "sync@example.com")
	gmail := "openid email " + google.ScopeGmailReadonly
	account := func(provider, scope string, refresh, reconsent bool) uuid.UUID {
		t.Helper()
		id := uuid.Must(uuid.NewV7())
		var token []byte
		if refresh {
			token = []byte("sealed")
		}
		if _, err := pool.Exec(ctx, `insert into accounts (id, user_id, provider, provider_account_id, refresh_token, scope, needs_reconsent)
			values ($1, $2, $3, $4, $5, nullif($6, ''), $7)`, id, user, provider, id.String(), token, scope, reconsent); err != nil {
			t.Fatal(err)
		}
		return id
	}
	synced := func(id uuid.UUID, ago string, locked bool) {
		t.Helper()
		if _, err := pool.Exec(ctx, `insert into sync_state (account_id, user_id, history_id, last_synced_at, locked_until)
			values ($1, $2, '1', now() - $3::interval, case when $4 then now() + interval '5 minutes' end)`, id, user, ago, locked); err != nil {
			t.Fatal(err)
		}
	}

	var due []uuid.UUID
	for range 5 { // never synced
		due = append(due, account(google.Provider, gmail, true, false))
	}
	stale := account(google.Provider, gmail, true, false)
	synced(stale, "1 hour", false)
	due = append(due, stale)
	// Not due: synced lately, being synced, no Gmail scope, no refresh
	// token, needing consent, another provider.
	synced(account(google.Provider, gmail, true, false), "1 minute", false)
	synced(account(google.Provider, gmail, true, false), "1 hour", true)
	account(google.Provider, "openid email profile", true, false)
	account(google.Provider, "", true, false)
	account(google.Provider, gmail, false, false)
	account(google.Provider, gmail, true, true)
	account("microsoft", gmail, true, false)

	// One due account has a sync waiting already.
	q := queue.New(pool, nil, nil)
	err := q.InTx(ctx, func(tx *queue.Tx) error {
		_, err := tx.Enqueue(ctx, email.SyncJob{UserID: user, AccountID: due[0]}, queue.Singleton(email.SyncKey(due[0])))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	op := syncaccounts.SyncAccounts(pool, q, syncaccounts.Options{Batch: 2})
	res, err := op(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Skipped: the accounts without Gmail, without a refresh token or
	// needing consent, which only their person can fix.
	if want := (syncaccounts.Report{Due: len(due), Enqueued: len(due) - 1, Skipped: 4, Complete: true}); res != want {
		t.Fatalf("first run: %+v, want %+v", res, want)
	}
	rows, err := pool.Query(ctx, `select (payload->>'accountId')::uuid, singleton_key, coalesce((payload->>'full')::bool, false)
		from jobs where kind = $1 and state = 'pending'`, catalog.EmailSync)
	if err != nil {
		t.Fatal(err)
	}
	type job struct {
		Account uuid.UUID
		Key     string
		Full    bool
	}
	jobs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[job])
	if err != nil {
		t.Fatal(err)
	}
	got := map[uuid.UUID]int{}
	for _, j := range jobs {
		got[j.Account]++
		if j.Key != email.SyncKey(j.Account) || j.Full {
			t.Errorf("job %+v", j)
		}
	}
	want := map[uuid.UUID]int{}
	for _, id := range due {
		want[id] = 1
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("pending syncs by account (-want +got):\n%s", diff)
	}

	res, err = op(ctx)
	if want := (syncaccounts.Report{Due: len(due), Skipped: 4, Complete: true}); err != nil || res != want {
		t.Fatalf("second run: %+v %v, want %+v", res, err, want)
	}

	// Out of time: it leaves the accounts to the next run.
	short, cancel := context.WithDeadline(ctx, time.Now())
	defer cancel()
	res, err = op(short)
	if want := (syncaccounts.Report{}); err != nil || res != want {
		t.Fatalf("near the deadline: %+v %v", res, err)
	}
}
