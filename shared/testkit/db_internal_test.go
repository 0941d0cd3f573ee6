package testkit

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Templates of other schema versions go once unused for a day, not while
// another checkout on the same server may be testing with them.
func TestDropStaleTemplates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	suffix := randomHex(4)
	templates := map[string]string{ // name: comment
		"crm_tpl_old" + suffix:         templateComment(time.Now().Add(-templateUnused - time.Hour)),
		"crm_tpl_uncommented" + suffix: "null",
		"crm_tpl_inuse" + suffix:       templateComment(time.Now().Add(-time.Minute)),
		"crm_tpl_current" + suffix:     templateComment(time.Now().Add(-templateUnused - time.Hour)),
	}
	for name, comment := range templates {
		for _, sql := range []string{
			"create database " + name,
			"comment on database " + name + " is " + comment,
			"alter database " + name + " with is_template true allow_connections false",
		} {
			if _, err := conn.Exec(ctx, sql); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
		}
		t.Cleanup(func() {
			conn, err := pgx.Connect(context.Background(), ServerURL())
			if err != nil {
				return
			}
			defer conn.Close(context.Background())
			conn.Exec(context.Background(), "alter database "+name+" is_template false")
			conn.Exec(context.Background(), "drop database if exists "+name)
		})
	}
	dropStaleTemplates(ctx, conn, "crm_tpl_current"+suffix)
	for name, wantKept := range map[string]bool{
		"crm_tpl_old" + suffix: false, "crm_tpl_uncommented" + suffix: false,
		"crm_tpl_inuse" + suffix: true, "crm_tpl_current" + suffix: true,
	} {
		var exists bool
		if err := conn.QueryRow(ctx, "select exists (select 1 from pg_database where datname = $1)", name).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists != wantKept {
			t.Errorf("%s exists = %v, want %v", name, exists, wantKept)
		}
	}
}
