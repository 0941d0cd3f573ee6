package health_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/personalcrm/core/functions/routes/health"
	"github.com/personalcrm/core/shared/api"
	"github.com/personalcrm/core/shared/db"
	healthcheck "github.com/personalcrm/core/shared/health"
	"github.com/personalcrm/core/shared/testkit"
)

func TestHealth(t *testing.T) {
	t.Parallel()
	pool := testkit.DB(t)
	database := healthcheck.Check{Name: "database", Required: true, Run: func(ctx context.Context) error { return db.Ping(ctx, pool) }}
	cacheDown := healthcheck.Check{Name: "cache", Run: func(context.Context) error { return errors.New("dial tcp 10.1.2.3:6379: refused") }}
	dbDown := healthcheck.Check{Name: "database", Required: true, Run: func(context.Context) error { return errors.New("password authentication failed for user crm") }}

	tests := []struct {
		name   string
		checks []healthcheck.Check
		status int
		report string
		down   string
	}{
		{"healthy", []healthcheck.Check{database}, 200, "healthy", ""},
		{"optional cache down", []healthcheck.Check{database, cacheDown}, 200, "degraded", "cache"},
		{"database down", []healthcheck.Check{dbDown, cacheDown}, 503, "unhealthy", "database"},
	}
	for _, tt := range tests {
		srv := api.NewServer(api.Options{}, health.Route(nil, tt.checks...))
		for _, tr := range testkit.Transports(srv) {
			t.Run(tr.Name+"/"+tt.name, func(t *testing.T) {
				res := tr.Do(t, testkit.Request("GET", "/health", "", nil))
				var rep healthcheck.Report
				raw := testkit.ReadJSON(t, res, &rep)
				if res.StatusCode != tt.status || rep.Status != tt.report {
					t.Fatalf("got %d %s", res.StatusCode, raw)
				}
				if tt.down != "" && rep.Checks[tt.down].Status != healthcheck.Down {
					t.Errorf("%s not reported down: %s", tt.down, raw)
				}
				if res.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("health answers may be cached: %q", res.Header.Get("Cache-Control"))
				}
				for _, secret := range []string{"10.1.2.3", "password", "crm"} {
					if contains(raw, secret) {
						t.Errorf("the public report shows %q: %s", secret, raw)
					}
				}
				if rep.Checks["database"].LatencyMs < 0 {
					t.Errorf("negative latency")
				}
			})
		}
	}
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }
