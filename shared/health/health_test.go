package health_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/personalcrm/core/shared/health"
)

func TestRun(t *testing.T) {
	ok := func(context.Context) error { return nil }
	fail := func(context.Context) error { return errors.New("dial tcp 10.0.0.1:5432: refused") }
	slow := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	tests := []struct {
		name   string
		checks []health.Check
		want   string
		down   []string
	}{
		{"all up", []health.Check{{Name: "database", Required: true, Run: ok}, {Name: "cache", Run: ok}}, health.Healthy, nil},
		{"optional down", []health.Check{{Name: "database", Required: true, Run: ok}, {Name: "cache", Run: fail}}, health.Degraded, []string{"cache"}},
		{"required down", []health.Check{{Name: "database", Required: true, Run: fail}, {Name: "cache", Run: fail}}, health.Unhealthy, []string{"database", "cache"}},
		{"required times out", []health.Check{{Name: "database", Required: true, Run: slow}}, health.Unhealthy, []string{"database"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := health.Run(context.Background(), nil, 50*time.Millisecond, tt.checks...)
			if rep.Status != tt.want {
				t.Fatalf("status %s, want %s", rep.Status, tt.want)
			}
			for _, n := range tt.down {
				if rep.Checks[n].Status != health.Down {
					t.Errorf("%s reported %s, want down", n, rep.Checks[n].Status)
				}
			}
			if len(rep.Checks) != len(tt.checks) {
				t.Errorf("%d results for %d checks", len(rep.Checks), len(tt.checks))
			}
		})
	}
}
