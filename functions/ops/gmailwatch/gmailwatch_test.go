package gmailwatch_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/personalcrm/core/functions/ops/gmailwatch"
	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/feature"
	"github.com/personalcrm/core/shared/google"
	"github.com/personalcrm/core/shared/sandbox"
	"github.com/personalcrm/core/shared/testkit"
)

const topic = "projects/crm-test-project/topics/gmail-push"

// watchFixture is a sandbox Google with accounts whose users may take
// push notifications.
type watchFixture struct {
	pool *db.Pool
	kit  testkit.GoogleKit
}

func newWatchFixture(t *testing.T) *watchFixture {
	t.Helper()
	pool := testkit.DB(t)
	return &watchFixture{pool: pool, kit: testkit.StartGoogleKit(t, pool, sandbox.GoogleOptions{})}
}

// account creates a user with a Google account, with the webhooks flag
// set to push.
func (f *watchFixture) account(t *testing.T, addr string, push bool) (user, account uuid.UUID) {
	t.Helper()
	user, _, account = f.kit.Account(t, f.pool, addr)
	if _, err := feature.NewSettings(f.pool).Set(context.Background(), user, feature.Webhooks, push); err != nil {
		t.Fatal(err)
	}
	return user, account
}

func (f *watchFixture) run(t *testing.T, o gmailwatch.Options) gmailwatch.Report {
	t.Helper()
	o.Google, o.Tokens = f.kit.Client, f.kit.Tokens
	res, err := gmailwatch.Op(f.pool, o)(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res.(gmailwatch.Report)
}

func TestWatchesPushAccounts(t *testing.T) {
	t.Parallel()
	f := newWatchFixture(t)
	f.account(t, "push@example.com", true)
	f.account(t, "poll@example.com", false)
	_, gone := f.account(t, "gone@example.com", true)
	if _, err := f.pool.Exec(context.Background(), `update accounts set needs_reconsent = true where id = $1`, gone); err != nil {
		t.Fatal(err)
	}

	r := f.run(t, gmailwatch.Options{Enabled: true, Topic: topic})
	if r != (gmailwatch.Report{Watched: 1, Complete: true}) {
		t.Fatalf("report %+v", r)
	}
	w := f.kit.Sandbox.Watches("push@example.com")
	if len(w) != 1 || w[0].TopicName != topic || !slices.Equal(w[0].LabelIDs, []string{"INBOX"}) || w[0].LabelFilterBehavior != "include" {
		t.Fatalf("watches %+v", w)
	}
	for _, addr := range []string{"poll@example.com", "gone@example.com"} {
		if w := f.kit.Sandbox.Watches(addr); len(w) != 0 {
			t.Errorf("%s watched: %+v", addr, w)
		}
	}

	// A second run renews the watch and does nothing else.
	if r := f.run(t, gmailwatch.Options{Enabled: true, Topic: topic}); r != (gmailwatch.Report{Watched: 1, Complete: true}) {
		t.Fatalf("second report %+v", r)
	}
	if n := len(f.kit.Sandbox.Watches("push@example.com")); n != 2 {
		t.Fatalf("%d watches after two runs", n)
	}
}

func TestWatchesNothingWhenOff(t *testing.T) {
	t.Parallel()
	f := newWatchFixture(t)
	f.account(t, "push@example.com", true)
	for _, c := range []struct {
		o    gmailwatch.Options
		want string
	}{
		{gmailwatch.Options{Enabled: false, Topic: topic}, gmailwatch.DisabledGate},
		{gmailwatch.Options{Enabled: true}, gmailwatch.DisabledTopic},
	} {
		if r := f.run(t, c.o); r != (gmailwatch.Report{Complete: true, Disabled: c.want}) {
			t.Errorf("report %+v, want disabled %q", r, c.want)
		}
	}
	if n := f.kit.Sandbox.Calls("gmail"); n != 0 {
		t.Fatalf("%d Gmail calls", n)
	}
}

func TestWatchesInBatches(t *testing.T) {
	t.Parallel()
	f := newWatchFixture(t)
	var addrs []string
	for i := range 5 {
		addr := fmt.Sprintf("push%d@example.com", i)
		f.account(t, addr, true)
		addrs = append(addrs, addr)
	}
	r := f.run(t, gmailwatch.Options{Enabled: true, Topic: topic, Batch: 2})
	if r != (gmailwatch.Report{Watched: 5, Complete: true}) {
		t.Fatalf("report %+v", r)
	}
	for _, addr := range addrs {
		if n := len(f.kit.Sandbox.Watches(addr)); n != 1 {
			t.Errorf("%s watched %d times", addr, n)
		}
	}
}

func TestGmailFailureCounted(t *testing.T) {
	t.Parallel()
	f := newWatchFixture(t)
	f.account(t, "push@example.com", true)
	f.account(t, "push2@example.com", true)
	f.kit.Sandbox.FailGmail(http.StatusServiceUnavailable)
	r := f.run(t, gmailwatch.Options{Enabled: true, Topic: topic})
	if r != (gmailwatch.Report{Failed: 2, Complete: true}) {
		t.Fatalf("report %+v", r)
	}
	f.kit.Sandbox.FailGmail(0)
	if r := f.run(t, gmailwatch.Options{Enabled: true, Topic: topic}); r != (gmailwatch.Report{Watched: 2, Complete: true}) {
		t.Fatalf("report after recovery %+v", r)
	}
}

func TestRevokedGrantSkipped(t *testing.T) {
	t.Parallel()
	f := newWatchFixture(t)
	_, account := f.account(t, "push@example.com", true)
	// Its access token expired and its refresh token was revoked: the
	// token store marks it as needing consent.
	if _, err := f.pool.Exec(context.Background(), `update accounts set expires_at = now() - interval '1 second' where id = $1`, account); err != nil {
		t.Fatal(err)
	}
	f.kit.Sandbox.RevokeUser("push@example.com")
	r := f.run(t, gmailwatch.Options{Enabled: true, Topic: topic})
	if r != (gmailwatch.Report{Skipped: 1, Complete: true}) {
		t.Fatalf("report %+v", r)
	}
	var gone bool
	if err := f.pool.QueryRow(context.Background(), `select needs_reconsent from accounts where id = $1`, account).Scan(&gone); err != nil || !gone {
		t.Fatalf("needs_reconsent %v, %v", gone, err)
	}
}

// TestLiveTokenRevokedSkipped: the person removes the app's access while
// the stored access token has not expired. Gmail answers 401, the one
// refresh answers invalid_grant: the account is marked and skipped, not
// failed, and the next run leaves it out.
func TestLiveTokenRevokedSkipped(t *testing.T) {
	t.Parallel()
	f := newWatchFixture(t)
	_, account := f.account(t, "push@example.com", true)
	f.account(t, "other@example.com", true)
	f.kit.Sandbox.RevokeUser("push@example.com")
	r := f.run(t, gmailwatch.Options{Enabled: true, Topic: topic})
	if r != (gmailwatch.Report{Watched: 1, Skipped: 1, Complete: true}) {
		t.Fatalf("report %+v", r)
	}
	var gone bool
	if err := f.pool.QueryRow(context.Background(), `select needs_reconsent from accounts where id = $1`, account).Scan(&gone); err != nil || !gone {
		t.Fatalf("needs_reconsent %v, %v", gone, err)
	}
	before := f.kit.Sandbox.Calls("gmail")
	if r := f.run(t, gmailwatch.Options{Enabled: true, Topic: topic}); r != (gmailwatch.Report{Watched: 1, Complete: true}) {
		t.Fatalf("second report %+v", r)
	}
	if n := f.kit.Sandbox.Calls("gmail") - before; n != 1 {
		t.Fatalf("%d Gmail calls in the second run, want the other account's", n)
	}
}

// TestGmailNotGrantedSkipped: Gmail refuses the watch for a scope the
// person did not grant (403 ACCESS_TOKEN_SCOPE_INSUFFICIENT): the account
// is skipped, not failed, and loses Gmail from its stored grant.
func TestGmailNotGrantedSkipped(t *testing.T) {
	t.Parallel()
	f := newWatchFixture(t)
	ctx := context.Background()
	user, _, account := f.kit.Account(t, f.pool, "unticked@example.com", google.ScopeGmailReadonly)
	if _, err := feature.NewSettings(f.pool).Set(ctx, user, feature.Webhooks, true); err != nil {
		t.Fatal(err)
	}
	// The stored grant still lists Gmail (granted at an earlier sign-in).
	if _, err := f.pool.Exec(ctx, `update accounts set scope = scope || ' ' || $2 where id = $1`, account, google.ScopeGmailReadonly); err != nil {
		t.Fatal(err)
	}
	if r := f.run(t, gmailwatch.Options{Enabled: true, Topic: topic}); r != (gmailwatch.Report{Skipped: 1, Complete: true}) {
		t.Fatalf("report %+v", r)
	}
	var scope string
	if err := f.pool.QueryRow(ctx, `select coalesce(scope, '') from accounts where id = $1`, account).Scan(&scope); err != nil ||
		google.Gmail.Granted(scope) {
		t.Fatalf("stored scope %q, %v", scope, err)
	}
	if r := f.run(t, gmailwatch.Options{Enabled: true, Topic: topic}); r != (gmailwatch.Report{Complete: true}) {
		t.Fatalf("second report %+v", r)
	}
}
