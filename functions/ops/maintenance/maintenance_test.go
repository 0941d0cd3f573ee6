package maintenance_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/personalcrm/core/functions/ops/maintenance"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/sealbox"
	"github.com/personalcrm/core/shared/testkit"
)

func TestMaintenance(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	user, _ := testkit.User(t, pool, "tidy@example.com")
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`insert into sessions (id, user_id, token_hash, expires_at) values ($1, $2, 'old', now() - interval '1 hour')`, uuid.New(), user)
	exec(`insert into verification_tokens (identifier, token_hash, expires_at) values ('a', 'old', now() - interval '1 minute'),
		('b', 'new', now() + interval '1 hour')`)
	exec(`insert into jobs (id, kind, user_id, payload, max_attempts, state, finished_at) values
		($1, 'contact-extraction', $3, '{}', 5, 'succeeded', now() - interval '8 days'),
		($2, 'contact-extraction', $3, '{}', 5, 'succeeded', now() - interval '1 day')`, uuid.New(), uuid.New(), user)

	// An account whose tokens the old key sealed, before k2 was added.
	k1 := "k1:" + sealbox.NewKey()
	oldKeys, _ := sealbox.ParseKeys(k1)
	keys, _ := sealbox.ParseKeys("k2:" + sealbox.NewKey() + "," + k1)
	account := uuid.New()
	exec(`insert into accounts (id, user_id, provider, provider_account_id) values ($1, $2, 'google', 'sub')`, account, user)
	if err := google.NewTokens(pool, nil, oldKeys).Save(ctx, nil, user, account, &oauth2.Token{AccessToken: "a", RefreshToken: "r"}); err != nil {
		t.Fatal(err)
	}

	res, err := maintenance.Maintenance(pool, 7*24*time.Hour, keys, logging.Discard())(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := res.(maintenance.Report)
	if got.FinishedJobsDeleted != 1 || got.Expired.Sessions != 1 || got.Expired.VerificationTokens != 1 ||
		got.TokenKeys != (google.RekeyReport{Reencrypted: 1}) {
		t.Fatalf("report %+v", got)
	}
	var access []byte
	if err := pool.QueryRow(ctx, `select access_token from accounts where id = $1`, account).Scan(&access); err != nil || keys.Stale(access) {
		t.Fatalf("access token still on the old key (%v)", err)
	}
	var sessions, tokens, jobs int
	if err := pool.QueryRow(ctx, `select (select count(*) from sessions), (select count(*) from verification_tokens), (select count(*) from jobs)`).
		Scan(&sessions, &tokens, &jobs); err != nil {
		t.Fatal(err)
	}
	// The user's live session (from testkit.User), the live token, the recent job.
	if sessions != 1 || tokens != 1 || jobs != 1 {
		t.Fatalf("left %d sessions, %d tokens, %d jobs", sessions, tokens, jobs)
	}
}
