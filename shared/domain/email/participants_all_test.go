package email_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/testkit"
)

func TestParticipantsAllAsParticipants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testkit.DB(t)
	svc := email.NewService(pool)
	user, acct := account(t, pool, "me@mine.example")
	other, otherAcct := account(t, pool, "other@mine.example")
	policy := email.WithIgnore("*@ignored.example")

	page := []email.Fields{message(acct, 1), message(acct, 2), message(acct, 3)}
	page[1].Cc = "Ann <ann@example.com>, Me <me+x@mine.example>, x@ignored.example"
	page[1].Headers = nil
	page[2].Headers = map[string]string{"Precedence": "bulk"}
	saved, err := svc.SaveAll(ctx, pool, user, page)
	if err != nil {
		t.Fatal(err)
	}
	theirs, _, err := svc.Save(ctx, pool, other, message(otherAcct, 1))
	if err != nil {
		t.Fatal(err)
	}
	refs := []email.Ref{{user, saved[0].ID}, {user, saved[1].ID}, {user, saved[2].ID},
		{user, theirs.ID}, {other, saved[0].ID}, {user, uuid.New()}}
	got, err := svc.ParticipantsAll(ctx, refs, policy)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d exchanges, want the user's 3", len(got))
	}
	for _, s := range saved {
		want, err := svc.Participants(ctx, user, s.ID, policy)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got[s.ID]); diff != "" {
			t.Errorf("email %s (-Participants +ParticipantsAll):\n%s", s.ProviderID, diff)
		}
	}
	if len(got[saved[1].ID].Participants) != 2 {
		t.Errorf("second email: %+v", got[saved[1].ID].Participants)
	}
}
