package google_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/sandbox"
	"github.com/personalcrm/core/shared/sealbox"
	"github.com/personalcrm/core/shared/testkit"
)

// rings returns the rings of a rotation from k1 to a new key k2: k1
// alone, k2 then k1, and k2 alone.
func rings(t *testing.T, k1 string) (old, rotated, newOnly *sealbox.Box) {
	t.Helper()
	k2 := sealbox.NewKey()
	var boxes [3]*sealbox.Box
	for i, keys := range []string{"k1:" + k1, "k2:" + k2 + ",k1:" + k1, "k2:" + k2} {
		b, err := sealbox.ParseKeys(keys)
		if err != nil {
			t.Fatal(err)
		}
		boxes[i] = b
	}
	return boxes[0], boxes[1], boxes[2]
}

// plainTokens are the values of an account's sealed columns.
type plainTokens struct{ access, refresh, id string }

var columns = [...]string{"access_token", "refresh_token", "id_token"}

// storedAccount creates a user with a Google account whose three tokens
// tokens seals, and returns the account id and the tokens.
func storedAccount(t *testing.T, pool *db.Pool, tokens *google.Tokens, email string) (uuid.UUID, plainTokens) {
	t.Helper()
	ctx := context.Background()
	userID, _ := testkit.User(t, pool, email)
	id := uuid.Must(uuid.NewV7())
	if _, err := pool.Exec(ctx, `insert into accounts (id, user_id, provider, provider_account_id) values ($1, $2, 'google', $3)`, id, userID, "sub-"+email); err != nil {
		t.Fatal(err)
	}
	p := plainTokens{access: "access-" + email, refresh: "refresh-" + email, id: "idtoken-" + email}
	tok := (&oauth2.Token{AccessToken: p.access, RefreshToken: p.refresh, Expiry: time.Now().Add(time.Hour)}).
		WithExtra(map[string]any{"id_token": p.id})
	if err := tokens.Save(ctx, nil, userID, id, tok); err != nil {
		t.Fatal(err)
	}
	return id, p
}

// sealedRow is an account's stored ciphertexts and its updated_at.
type sealedRow struct {
	Values  [3][]byte
	Updated time.Time
}

func readRow(t *testing.T, pool *db.Pool, id uuid.UUID) sealedRow {
	t.Helper()
	var r sealedRow
	err := pool.QueryRow(context.Background(), `select access_token, refresh_token, id_token, updated_at from accounts where id = $1`, id).
		Scan(&r.Values[0], &r.Values[1], &r.Values[2], &r.Updated)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func allRows(t *testing.T, pool *db.Pool) map[uuid.UUID]sealedRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), `select id from accounts`)
	if err != nil {
		t.Fatal(err)
	}
	var ids []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		rows.Scan(&id)
		ids = append(ids, id)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	out := map[uuid.UUID]sealedRow{}
	for _, id := range ids {
		out[id] = readRow(t, pool, id)
	}
	return out
}

// openRow opens an account's stored tokens with box.
func openRow(box *sealbox.Box, id uuid.UUID, r sealedRow) (plainTokens, error) {
	var got [3]string
	for i, col := range columns {
		b, err := box.Open(r.Values[i], google.AdditionalData(id, col))
		if err != nil {
			return plainTokens{}, fmt.Errorf("%s: %w", col, err)
		}
		got[i] = string(b)
	}
	return plainTokens{access: got[0], refresh: got[1], id: got[2]}, nil
}

func TestRekey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testkit.DB(t)
	oldBox, rotated, newOnly := rings(t, sealbox.NewKey())
	oldTokens := google.NewTokens(pool, nil, oldBox)

	// More accounts of the old key than a batch holds.
	const batch = 3
	old := map[uuid.UUID]plainTokens{}
	for i := range 2*batch + 1 {
		id, p := storedAccount(t, pool, oldTokens, fmt.Sprintf("old%d@example.com", i))
		old[id] = p
	}
	// Already on the newest key; and an account without tokens.
	current, currentPlain := storedAccount(t, pool, google.NewTokens(pool, nil, rotated), "current@example.com")
	emptyUser, _ := testkit.User(t, pool, "empty@example.com")
	empty := uuid.Must(uuid.NewV7())
	if _, err := pool.Exec(ctx, `insert into accounts (id, user_id, provider, provider_account_id) values ($1, $2, 'google', 'sub-empty')`, empty, emptyUser); err != nil {
		t.Fatal(err)
	}
	// A refresh token sealed with a key the ring does not hold.
	broken, brokenPlain := storedAccount(t, pool, oldTokens, "broken@example.com")
	gone, _ := sealbox.New(sealbox.Key{ID: "k0", Key: bytes.Repeat([]byte{7}, sealbox.KeySize)})
	lost := gone.Seal([]byte("refresh-only-k0-opens"), google.AdditionalData(broken, "refresh_token"))
	if _, err := pool.Exec(ctx, `update accounts set refresh_token = $2 where id = $1`, broken, lost); err != nil {
		t.Fatal(err)
	}
	before := allRows(t, pool)

	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	rep, err := google.Rekey(ctx, pool, rotated, google.RekeyOptions{BatchSize: batch, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if want := (google.RekeyReport{Reencrypted: int64(len(old)), Undecryptable: 1, Stale: 1}); rep != want {
		t.Fatalf("report %+v, want %+v", rep, want)
	}

	// Every old account now opens with the new key alone, to its values.
	for id, want := range old {
		got, err := openRow(newOnly, id, readRow(t, pool, id))
		if err != nil {
			t.Errorf("account %s with the new key only: %v", id, err)
			continue
		}
		if got != want {
			t.Errorf("account %s with the new key only: %+v, want %+v", id, got, want)
		}
	}
	if got, err := openRow(newOnly, current, readRow(t, pool, current)); err != nil {
		t.Errorf("current account: %v", err)
	} else if got != currentPlain {
		t.Errorf("current account: %+v, want %+v", got, currentPlain)
	}
	// Rows on the newest key, and rows without tokens, were not written.
	for _, id := range []uuid.UUID{current, empty} {
		if diff := cmp.Diff(before[id], readRow(t, pool, id)); diff != "" {
			t.Errorf("account %s was written (-before +after):\n%s", id, diff)
		}
	}
	// The undecryptable token is left; the account's other tokens moved on.
	b := readRow(t, pool, broken)
	if !bytes.Equal(b.Values[1], lost) {
		t.Error("the undecryptable refresh token was changed")
	}
	if a, err := newOnly.Open(b.Values[0], google.AdditionalData(broken, "access_token")); err != nil {
		t.Errorf("the broken account's access token was not sealed again: %v", err)
	} else if string(a) != brokenPlain.access {
		t.Errorf("the broken account's access token sealed again is %q, want %q", a, brokenPlain.access)
	}
	out := logs.String()
	if !strings.Contains(out, broken.String()) || !strings.Contains(out, `"column":"refresh_token"`) || !strings.Contains(out, `"key_id":"k0"`) {
		t.Errorf("the undecryptable token was not logged by account and column:\n%s", out)
	}
	for _, p := range old {
		if strings.Contains(out, p.access) || strings.Contains(out, p.refresh) {
			t.Fatalf("a token reached the log:\n%s", out)
		}
	}

	// A second run finds nothing to do and writes nothing.
	before = allRows(t, pool)
	rep, err = google.Rekey(ctx, pool, rotated, google.RekeyOptions{BatchSize: batch})
	if err != nil {
		t.Fatal(err)
	}
	if want := (google.RekeyReport{Undecryptable: 1, Stale: 1}); rep != want {
		t.Fatalf("second run: %+v, want %+v", rep, want)
	}
	if diff := cmp.Diff(before, allRows(t, pool)); diff != "" {
		t.Fatalf("the second run wrote (-before +after):\n%s", diff)
	}

	// Once the undecryptable token is replaced (the person signs in
	// again), nothing is stale and the old key can go.
	userID := uuid.Nil
	pool.QueryRow(ctx, `select user_id from accounts where id = $1`, broken).Scan(&userID)
	if err := google.NewTokens(pool, nil, rotated).Save(ctx, nil, userID, broken, &oauth2.Token{AccessToken: "a", RefreshToken: "r"}); err != nil {
		t.Fatal(err)
	}
	rep, err = google.Rekey(ctx, pool, rotated, google.RekeyOptions{})
	if err != nil {
		t.Fatalf("after signing in again: %v", err)
	}
	if rep != (google.RekeyReport{}) {
		t.Fatalf("after signing in again: report %+v, want nothing to do", rep)
	}
	if _, err := openRow(newOnly, broken, readRow(t, pool, broken)); err != nil {
		t.Fatalf("after signing in again: %v", err)
	}
}

// TestRekeyDuringRefresh re-seals an account while an environment that
// has only the old key refreshes its tokens and the provider rotates its
// refresh token: the re-sealing waits for the refresh's row lock and
// seals the new tokens, so the rotated refresh token is not lost.
func TestRekeyDuringRefresh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newTokenFixture(t, sandbox.GoogleOptions{RotateRefreshTokens: true})
	userID, accountID, first := f.account(t, "ada@example.com")
	f.expire(t, accountID)
	_, rotated, k2 := rings(t, f.key)
	newOnly := google.NewTokens(f.pool, f.client, k2)

	refreshing := make(chan struct{})
	f.holdFirstRefresh(func() { close(refreshing) })
	type result struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := f.tokens.Token(ctx, userID, accountID) // the old ring
		done <- result{tok, err}
	}()
	<-refreshing
	rep, err := google.Rekey(ctx, f.pool, rotated, google.RekeyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	refreshed := <-done
	if refreshed.err != nil {
		t.Fatal(refreshed.err)
	}
	if rep != (google.RekeyReport{Reencrypted: 1}) {
		t.Fatalf("report %+v", rep)
	}

	// The refreshed access token is what is stored, under the new key.
	tok, err := newOnly.Token(ctx, userID, accountID)
	if err != nil {
		t.Fatalf("stored access token after both: %v", err)
	}
	if tok.AccessToken != refreshed.tok.AccessToken {
		t.Fatalf("stored access token after both is not the refreshed one")
	}
	// The rotated refresh token was kept: the next refresh works.
	f.expire(t, accountID)
	if _, err := newOnly.Token(ctx, userID, accountID); err != nil {
		t.Fatalf("refresh after re-sealing: %v", err)
	}
	if n := f.g.Calls("refresh_token"); n != 2 {
		t.Fatalf("%d refreshes, want 2", n)
	}
	if _, err := f.client.Refresh(ctx, first.RefreshToken); !errors.Is(err, google.ErrInvalidGrant) {
		t.Fatalf("the first refresh token was not rotated away: %v", err)
	}
}
