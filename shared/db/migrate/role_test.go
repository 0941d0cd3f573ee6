package migrate_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db/migrate"
	"github.com/personalcrm/core/shared/testkit"
)

// codeInsufficientPrivilege is PostgreSQL's insufficient_privilege, which
// "must be owner" errors share.
const codeInsufficientPrivilege = "42501"

// The runtime role reads and writes the application's tables and can do
// nothing else: no DDL of any kind, no TRUNCATE, nothing of goose's table.
func TestRuntimeRoleHasDMLOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testkit.NewDatabase(t)
	app := d.Pool(t)

	var who string
	if err := app.QueryRow(ctx, "select current_user").Scan(&who); err != nil {
		t.Fatalf("current user: %v", err)
	}
	if who != config.DatabaseAppRole {
		t.Fatalf("the test kit's pool connects as %q, want the runtime role %s", who, config.DatabaseAppRole)
	}

	id := uuid.Must(uuid.NewV7())
	for _, stmt := range []string{
		"insert into users (id, email) values ($1, 'dml@example.com')",
		"update users set name = 'Ada' where id = $1",
		"insert into contacts (id, user_id, email) values (gen_random_uuid(), $1, 'c@example.com')",
		"select count(*) from contacts where user_id = $1",
		"delete from contacts where user_id = $1",
		"delete from users where id = $1",
	} {
		if _, err := app.Exec(ctx, stmt, id); err != nil {
			t.Errorf("runtime role: %s: %v", stmt, err)
		}
	}

	for _, stmt := range []string{
		"create table intruder (id int)",
		"create temporary table intruder (id int)",
		"create index intruder_idx on users (name)",
		"create schema intruder",
		"create function public.intruder() returns int language sql as 'select 1'",
		"create view intruder as select 1",
		"alter table users add column intruder text",
		"alter table users owner to " + config.DatabaseAppRole,
		"drop table email_contacts",
		"drop index contacts_user_sort_idx",
		"truncate users cascade",
		"truncate jobs",
		"create trigger intruder before insert on users for each row execute function contacts_name_source()",
		"select * from goose_db_version",
		"insert into goose_db_version (version_id, is_applied) values (99999, true)",
		"delete from goose_db_version",
		"create role intruder",
		"create database intruder",
	} {
		_, err := app.Exec(ctx, stmt)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != codeInsufficientPrivilege {
			t.Errorf("runtime role: %s: err = %v, want insufficient privilege (%s)", stmt, err, codeInsufficientPrivilege)
		}
	}

	var super, createRole, createDB bool
	if err := app.QueryRow(ctx, "select rolsuper, rolcreaterole, rolcreatedb from pg_roles where rolname = current_user").
		Scan(&super, &createRole, &createDB); err != nil {
		t.Fatal(err)
	}
	if super || createRole || createDB {
		t.Errorf("runtime role: superuser %v, createrole %v, createdb %v", super, createRole, createDB)
	}
}

// A table a later migration adds is the runtime role's once the migration
// has run: grants are applied after every run.
func TestGrantsFollowNewTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := testkit.NewDatabase(t)
	owner, app := d.OwnerPool(t), d.Pool(t)
	if _, err := owner.Exec(ctx, "create table later_table (id int primary key)"); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Exec(ctx, "insert into later_table values (1)"); err == nil {
		t.Fatal("the runtime role writes a table before any grant")
	}
	res, err := migrate.Up(ctx, d.OwnerURL, nil)
	if err != nil {
		t.Fatalf("Up again: %v", err)
	}
	if len(res.Applied) != 0 {
		t.Fatalf("Up again applied %v, want nothing", res.Applied)
	}
	if _, err := app.Exec(ctx, "insert into later_table values (1)"); err != nil {
		t.Fatalf("after Up the runtime role cannot write the new table: %v", err)
	}
	if _, err := app.Exec(ctx, "truncate later_table"); err == nil {
		t.Fatal("the runtime role truncates the new table")
	}
	if _, err := app.Exec(ctx, "select * from goose_db_version"); err == nil {
		t.Fatal("a second run let the runtime role read goose's table")
	}
}

// Migrating as the runtime role is refused with a message that says so;
// nothing is applied.
func TestMigrateAsRuntimeRoleIsRefused(t *testing.T) {
	t.Parallel()
	d := testkit.NewDatabase(t)
	_, err := migrate.Up(context.Background(), d.URL, nil)
	if err == nil || !strings.Contains(err.Error(), "not as the runtime role") {
		t.Fatalf("Up as the runtime role: %v", err)
	}
}

// The local URL is the owner's with the runtime role and its development
// password in place of the user.
func TestLocalAppURL(t *testing.T) {
	got, err := migrate.LocalAppURL("postgres://me:secret@db.example:5432/crm_dev?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(got)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.User != config.DatabaseAppRole || cfg.Password != migrate.DevAppPassword || cfg.Host != "db.example" || cfg.Database != "crm_dev" {
		t.Fatalf("LocalAppURL = %s", got)
	}
}
