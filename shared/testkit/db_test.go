package testkit_test

import (
	"context"
	"testing"

	"github.com/personalcrm/core/shared/db/migrate"
	"github.com/personalcrm/core/shared/testkit"
)

func TestDBIsMigratedAndPrivate(t *testing.T) {
	t.Parallel()
	da := testkit.NewDatabase(t)
	a, b := da.Pool(t), testkit.DB(t)
	ctx := context.Background()
	if _, err := a.Exec(ctx, "insert into users (id, email) values (gen_random_uuid(), 'a@example.com')"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRow(ctx, "select count(*) from users").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("second test database sees %d users of the first", n)
	}
	latest, err := migrate.Latest()
	if err != nil {
		t.Fatal(err)
	}
	var version int64
	// goose's table is the owner's: the runtime role cannot read it.
	if err := da.OwnerPool(t).QueryRow(ctx, "select max(version_id) from goose_db_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != latest {
		t.Fatalf("schema version %d, want %d", version, latest)
	}
}
