package main

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/personalcrm/core/functions"
	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/domain/contact"
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
	app, receiver := localApp(cfg, logging.Discard(), nil, pool, nil)
	fns, err := buildAll(app, functions.Builders)
	if err != nil {
		t.Fatal(err)
	}
	bg := newBackground(app, receiver, fns)
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
		j, err = tx.Enqueue(ctx, contact.ExtractionJob{UserID: user, EmailID: e.ID})
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

// TestBuildsEveryFunction: the local server builds every function of the
// catalog with the constructor its Lambda's main names, each as its kind.
func TestBuildsEveryFunction(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(context.Background(), function, config.WithEnv(map[string]string{config.VarAppEnv: "test"}))
	if err != nil {
		t.Fatal(err)
	}
	app, _ := localApp(cfg, logging.Discard(), nil, nil, nil)
	fns, err := buildAll(app, functions.Builders)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(fns.routes), len(catalog.Routes()); got != want {
		t.Errorf("%d routes, want the catalog's %d", got, want)
	}
	if got, want := len(fns.workers), len(catalog.Jobs()); got != want {
		t.Errorf("%d job workers, want the catalog's %d", got, want)
	}
	if got, want := len(fns.ops), len(catalog.Ops()); got != want {
		t.Errorf("%d operations, want the catalog's %d", got, want)
	}
	// A schedule that targets a job type sends what its worker reads.
	for _, s := range catalog.Schedules() {
		for _, w := range fns.workers {
			if w.Function().Name != s.Target {
				continue
			}
			if err := w.Accepts([]byte(s.Payload)); err != nil {
				t.Errorf("schedule %s sends %s, which %s refuses: %v", s.Name, s.Payload, s.Target, err)
			}
		}
	}
}

// TestBuildAllRefusesAMissingFunction: a catalog function without a
// constructor stops the local server at start.
func TestBuildAllRefusesAMissingFunction(t *testing.T) {
	cfg, err := config.Load(context.Background(), function, config.WithEnv(map[string]string{config.VarAppEnv: "test"}))
	if err != nil {
		t.Fatal(err)
	}
	builders := maps.Clone(functions.Builders)
	delete(builders, catalog.JobsGet)
	app, _ := localApp(cfg, logging.Discard(), nil, nil, nil)
	if _, err := buildAll(app, builders); err == nil || !strings.Contains(err.Error(), catalog.JobsGet) {
		t.Fatalf("built without %s: %v", catalog.JobsGet, err)
	}
}
