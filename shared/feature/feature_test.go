package feature_test

import (
	"context"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/errs"
	"github.com/personalcrm/core/shared/feature"
	"github.com/personalcrm/core/shared/testkit"
)

func TestEvaluate(t *testing.T) {
	allOn := feature.GatesOf(config.Features{AIAgents: true, Enrichment: true, Webhooks: true})
	tests := []struct {
		name  string
		gates feature.Gates
		user  map[string]bool
		flag  feature.Flag
		want  bool
	}{
		{"env off beats user on", feature.GatesOf(config.Features{Enrichment: true}), map[string]bool{"ai-agents": true}, feature.AIAgents, false},
		{"env on, user on", allOn, map[string]bool{"ai-agents": true}, feature.AIAgents, true},
		{"env on, user off", allOn, map[string]bool{"ai-agents": false}, feature.AIAgents, false},
		{"env on, user silent", allOn, map[string]bool{}, feature.Enrichment, false},
		{"env on, other flag on", allOn, map[string]bool{"webhooks": true}, feature.Enrichment, false},
		{"unknown flag", allOn, map[string]bool{"teleport": true}, feature.Flag("teleport"), false},
		{"no gates at all", nil, map[string]bool{"webhooks": true}, feature.Webhooks, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := feature.Evaluate(tt.gates, tt.user)
			if got := set.Enabled(tt.flag); got != tt.want {
				t.Fatalf("Enabled(%s) = %v, want %v", tt.flag, got, tt.want)
			}
			ctx := feature.With(context.Background(), set)
			if got := feature.Enabled(ctx, tt.flag); got != tt.want {
				t.Fatalf("through the context: %v, want %v", got, tt.want)
			}
			if len(set) != len(feature.All()) {
				t.Fatalf("set has %d flags, want every known flag: %v", len(set), set)
			}
		})
	}
	if feature.Enabled(context.Background(), feature.AIAgents) {
		t.Fatal("a context without flags has a flag on")
	}
}

func TestParse(t *testing.T) {
	if f, err := feature.Parse(" enrichment "); err != nil {
		t.Fatalf("Parse: %v", err)
	} else if f != feature.Enrichment {
		t.Fatalf("Parse = %q, want %q", f, feature.Enrichment)
	}
	_, err := feature.Parse("teleport")
	if e, ok := errs.As(err); !ok || e.Kind != errs.KindInvalid || len(e.Fields["flag"]) != 1 {
		t.Fatalf("unknown flag: %v", err)
	}
}

func TestSettings(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	alice, _ := testkit.User(t, pool, "alice@example.com")
	bob, _ := testkit.User(t, pool, "bob@example.com")
	s := feature.NewSettings(pool)

	got, err := s.Set(ctx, alice, feature.AIAgents, true)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]bool{"ai-agents": true}, got); d != "" {
		t.Fatalf("after enable (-want +got):\n%s", d)
	}
	if got, _ = s.Set(ctx, alice, feature.AIAgents, false); !cmp.Equal(got, map[string]bool{"ai-agents": false}) {
		t.Fatalf("after disable: %v", got)
	}
	if got, _ = s.Get(ctx, bob); len(got) != 0 {
		t.Fatalf("bob's settings changed with alice's: %v", got)
	}

	if _, err := s.Set(ctx, alice, feature.Flag("teleport"), true); !errs.Is(err, errs.KindInvalid) {
		t.Fatalf("unknown flag: %v", err)
	}
	if _, err := s.Set(ctx, uuid.Must(uuid.NewV7()), feature.AIAgents, true); !errs.Is(err, errs.KindNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
	var raw string
	pool.QueryRow(ctx, "select features::text from users where id = $1", alice).Scan(&raw)
	if raw != `{"ai-agents": false}` {
		t.Fatalf("bad input changed the row: %s", raw)
	}

	// Non-boolean values someone wrote by hand count as off.
	pool.Exec(ctx, `update users set features = '{"webhooks": "yes", "enrichment": true}' where id = $1`, bob)
	if got, _ = s.Get(ctx, bob); !cmp.Equal(got, map[string]bool{"enrichment": true}) {
		t.Fatalf("hand-written settings: %v", got)
	}
}

// TestConcurrentEnables changes two different flags of one user from many
// goroutines at once: neither change may be lost.
func TestConcurrentEnables(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	ctx := context.Background()
	user, _ := testkit.User(t, pool, "race@example.com")
	s := feature.NewSettings(pool)

	const rounds = 20
	var wg sync.WaitGroup
	errc := make(chan error, 2*rounds)
	for _, f := range []feature.Flag{feature.AIAgents, feature.Enrichment} {
		for range rounds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Set(ctx, user, f, true)
				errc <- err
			}()
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Get(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]bool{"ai-agents": true, "enrichment": true}, got); d != "" {
		t.Fatalf("a concurrent enable was lost (-want +got):\n%s", d)
	}
}
