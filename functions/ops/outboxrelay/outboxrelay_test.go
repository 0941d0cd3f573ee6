package outboxrelay_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/personalcrm/core/functions/ops/outboxrelay"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/testkit"
)

func TestRelayOp(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	mem := queue.NewMemory(queue.MemoryOptions{})
	user, _ := testkit.User(t, pool, "relay@example.com")
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `insert into jobs (id, kind, user_id, payload, max_attempts, created_at)
		values ($1, 'contact-extraction', $2, $3, 5, now() - interval '1 minute')`,
		uuid.New(), user, `{"userId":"`+user.String()+`","emailId":"`+uuid.NewString()+`"}`); err != nil {
		t.Fatal(err)
	}
	res, err := outboxrelay.Relay(queue.New(pool, mem, nil))(ctx)
	if err != nil || res.(queue.RelayResult).Sent != 1 {
		t.Fatalf("relay: %+v %v", res, err)
	}
}
