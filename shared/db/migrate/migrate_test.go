package migrate_test

import (
	"context"
	"io/fs"
	"net/url"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/db/migrate"
	"github.com/personalcrm/core/shared/testkit"
)

func TestEnsureDatabaseAndConcurrentUp(t *testing.T) {
	ctx := context.Background()
	u, _ := url.Parse(testkit.ServerURL())
	name := "crm_migrate_test"
	u.Path = "/" + name
	dbURL := u.String()
	admin, err := pgx.Connect(ctx, testkit.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	admin.Exec(ctx, "drop database if exists "+name+" with (force)")
	t.Cleanup(func() { admin.Exec(context.Background(), "drop database if exists "+name+" with (force)") })

	created, err := migrate.EnsureDatabase(ctx, dbURL)
	if err != nil {
		t.Fatalf("EnsureDatabase: %v", err)
	}
	if !created {
		t.Fatalf("EnsureDatabase did not create the database")
	}
	created, err = migrate.EnsureDatabase(ctx, dbURL)
	if err != nil {
		t.Fatalf("second EnsureDatabase: %v", err)
	}
	if created {
		t.Fatalf("second EnsureDatabase created the database again")
	}

	latest, err := migrate.Latest()
	if err != nil {
		t.Fatalf("Latest: %v", err)
	}
	if latest < 2 {
		t.Fatalf("Latest = %d, want at least 2", latest)
	}
	// Two deploys at once: one applies, the other waits and finds nothing to do.
	var wg sync.WaitGroup
	results := make([]migrate.Result, 2)
	errs := make([]error, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = migrate.Up(ctx, dbURL, nil)
		}()
	}
	wg.Wait()
	applied := 0
	for i := range results {
		if errs[i] != nil {
			t.Fatalf("Up %d: %v", i, errs[i])
		}
		if results[i].Version != latest {
			t.Errorf("Up %d left version %d, want %d", i, results[i].Version, latest)
		}
		applied += len(results[i].Applied)
	}
	files, err := fs.Glob(db.Migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if applied != len(files) {
		t.Errorf("%d migrations applied in all, want each of %d once", applied, len(files))
	}
	again, err := migrate.Up(ctx, dbURL, nil)
	if err != nil {
		t.Fatalf("third Up: %v", err)
	}
	if len(again.Applied) != 0 {
		t.Fatalf("third Up applied %v, want nothing", again.Applied)
	}
}
