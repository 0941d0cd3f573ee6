package main

import (
	"context"
	"testing"
	"time"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/domain/email"
	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/testkit"
)

// TestBackgroundRunsJobs: the local server's consumers take a job from
// the in-memory queue to its end, as the Lambda would.
func TestBackgroundRunsJobs(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	cfg, err := config.Load(context.Background(), function, config.WithEnv(map[string]string{config.VarAppEnv: "test"}))
	if err != nil {
		t.Fatal(err)
	}
	bg, err := newBackground(cfg, logging.Discard(), nil, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(bg.workers) != len(catalog.Jobs()) || len(bg.ops) != 4 {
		t.Fatalf("%d consumers and %d operations", len(bg.workers), len(bg.ops))
	}
	ctx, cancel := context.WithCancel(context.Background())
	bg.start(ctx)
	defer bg.wait()
	defer cancel()

	user, _ := testkit.User(t, pool, "dev@example.com")
	e, err := email.NewService(pool).Create(ctx, user, email.Fields{From: "Grace <grace@example.com>"})
	if err != nil {
		t.Fatal(err)
	}
	var j queue.Job
	err = bg.queue.InTx(ctx, func(tx *queue.Tx) error {
		var err error
		j, err = tx.Enqueue(ctx, queue.ContactExtraction{UserID: user, EmailID: e.ID})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := queue.Get(ctx, pool, user, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State.Finished() {
			if got.State != queue.Succeeded {
				t.Fatalf("job ended %s: %v", got.State, got.LastError)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %s", got.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
