package migrate

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db"
)

// AppRole is the role every function but migrate connects as.
const AppRole = config.DatabaseAppRole

// DevAppPassword is the password Up gives the runtime role when it creates
// it on a server that is not RDS: local development and tests, where the
// server's own access rules (pg_hba.conf) decide who may connect. It is not
// a secret. UpConfig, the deploy's migration, gives it none: on RDS the
// role signs in with IAM (rds_iam), and anywhere else an operator sets one.
const DevAppPassword = "crm-app-development-only"

// roles names the runtime role, and RDS's role whose members sign in with
// IAM tokens only (rds_iam, which exists on RDS alone). Tests stand in
// roles of their own.
type roles struct {
	app, iam string
}

var defaultRoles = roles{app: AppRole, iam: "rds_iam"}

// versionTable is goose's record of applied migrations, which the runtime
// role may not read or write.
const versionTable = "goose_db_version"

// grantsLock is the advisory lock (scoped to the database) that serialises
// concurrent runs of the grants: two transactions changing one table's
// privileges at once fail with "tuple concurrently updated".
const grantsLock = 727275

// LocalAppURL is ownerURL with the runtime role and its development
// password as the user: how the local server and the tests connect after
// migrating as the owner. Errors: an unparsable URL.
func LocalAppURL(ownerURL string) (string, error) {
	u, err := url.Parse(ownerURL)
	if err != nil {
		return "", errors.New("parse database url: invalid URL")
	}
	u.User = url.UserPassword(AppRole, DevAppPassword)
	return u.String(), nil
}

// setupAppRole creates the runtime role when it is missing, checks that it
// holds nothing beyond what it is given here, lets it sign in with IAM on
// RDS, and grants it DML on every table of the schema but goose's, and
// nothing else in this database. It runs after every migration run, so a
// table a migration adds is granted before any new code runs; default
// privileges would only cover tables created by the role they name, and
// would have granted goose's table too.
//
// Roles belong to the whole server, which many test processes share: a
// concurrent creation of the same role is not an error.
func setupAppRole(ctx context.Context, sqlDB *sql.DB, r roles, password string) error {
	role := pgx.Identifier{r.app}.Sanitize()
	create := "create role " + role + " login"
	if password != "" {
		create += " password " + quoteLiteral(password)
	}
	_, err := sqlDB.ExecContext(ctx, `do $$ begin
		if not exists (select from pg_roles where rolname = `+quoteLiteral(r.app)+`) then
			begin
				`+create+`;
			exception when duplicate_object or unique_violation then
				null; -- created meanwhile by another migration
			end;
		end if;
	end $$`)
	if err != nil {
		return fmt.Errorf("create runtime role %s: %w", r.app, err)
	}
	if err := checkAppRole(ctx, sqlDB, r); err != nil {
		return err
	}

	tx, err := sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "select pg_advisory_xact_lock($1)", grantsLock); err != nil {
		return err
	}
	// On RDS the role signs in with IAM tokens (through RDS Proxy); its
	// membership of rds_iam is all that takes.
	_, err = tx.ExecContext(ctx, `do $$ begin
		if exists (select from pg_roles where rolname = `+quoteLiteral(r.iam)+`)
				and not pg_has_role(`+quoteLiteral(r.app)+`, `+quoteLiteral(r.iam)+`, 'member') then
			grant `+pgx.Identifier{r.iam}.Sanitize()+` to `+role+`;
		end if;
	end $$`)
	if err != nil {
		return fmt.Errorf("let runtime role %s sign in with IAM: %w", r.app, err)
	}
	var database string
	if err := tx.QueryRowContext(ctx, "select current_database()").Scan(&database); err != nil {
		return err
	}
	for _, stmt := range append(databaseGrants(pgx.Identifier{database}.Sanitize(), role), grantStatements(role)...) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("grant runtime role %s: %s: %w", r.app, strings.SplitN(stmt, "\n", 2)[0], err)
		}
	}
	return tx.Commit()
}

// refuseAppRole refuses to migrate connected as the runtime role, which
// can do none of it.
func refuseAppRole(ctx context.Context, sqlDB *sql.DB) error {
	var current string
	if err := sqlDB.QueryRowContext(ctx, "select current_user").Scan(&current); err != nil {
		return err
	}
	if current == AppRole {
		return fmt.Errorf("migrations run as the schema's owner, not as the runtime role %s: connect as the owner", AppRole)
	}
	return nil
}

// DatabaseGrants are the statements that set the database-wide privileges
// on the database name: the runtime role may connect, and only the owner
// may create schemas or temporary tables. Up runs them; CREATE DATABASE
// ... TEMPLATE does not copy them, so the test kit runs them on each copy
// of its template.
func DatabaseGrants(name string) []string {
	return databaseGrants(pgx.Identifier{name}.Sanitize(), pgx.Identifier{AppRole}.Sanitize())
}

func databaseGrants(database, role string) []string {
	return []string{
		"revoke create, temporary on database " + database + " from public",
		"revoke all on database " + database + " from " + role,
		"grant connect on database " + database + " to " + role,
	}
}

// grantStatements make the role's privileges in the current database
// exactly DML on the application's tables: whatever it held before is
// revoked first, in the same transaction.
func grantStatements(role string) []string {
	version := pgx.Identifier{versionTable}.Sanitize()
	return []string{
		// Nobody but the owner creates objects: PostgreSQL before 15 let
		// everyone create in public, and everyone may create temporary
		// tables unless told otherwise.
		"revoke create on schema public from public",
		"revoke all on schema public from " + role,
		"grant usage on schema public to " + role,
		"revoke all on all tables in schema public from " + role,
		"revoke all on all sequences in schema public from " + role,
		"grant select, insert, update, delete on all tables in schema public to " + role,
		"grant usage, select on all sequences in schema public to " + role,
		// The record of migrations is the owner's alone.
		"revoke all on table " + version + " from " + role + ", public",
		`do $$ declare seq text := pg_get_serial_sequence('` + versionTable + `', 'id'); begin
			if seq is not null then
				execute format('revoke all on sequence %s from ` + role + `, public', seq);
			end if;
		end $$`,
	}
}

// checkAppRole refuses a runtime role that could do more than it is
// granted: one that an operator created, or changed, with a superuser's or
// an administrator's attributes, or made a member of another role.
func checkAppRole(ctx context.Context, sqlDB *sql.DB, r roles) error {
	var super, createDB, createRole, replication, bypassRLS, login bool
	err := sqlDB.QueryRowContext(ctx, `select rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolcanlogin
		from pg_roles where rolname = $1`, r.app).Scan(&super, &createDB, &createRole, &replication, &bypassRLS, &login)
	if err != nil {
		return fmt.Errorf("read runtime role %s: %w", r.app, err)
	}
	var extra []string
	for name, on := range map[string]bool{"superuser": super, "createdb": createDB, "createrole": createRole, "replication": replication, "bypassrls": bypassRLS} {
		if on {
			extra = append(extra, name)
		}
	}
	rows, err := sqlDB.QueryContext(ctx, `select r.rolname from pg_auth_members m
		join pg_roles r on r.oid = m.roleid
		where m.member = (select oid from pg_roles where rolname = $1) and r.rolname <> $2
		order by r.rolname`, r.app, r.iam)
	if err != nil {
		return fmt.Errorf("read runtime role %s: %w", r.app, err)
	}
	defer rows.Close()
	for rows.Next() {
		var member string
		if err := rows.Scan(&member); err != nil {
			return err
		}
		extra = append(extra, "member of "+member)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	slices.Sort(extra)
	switch {
	case len(extra) > 0:
		return fmt.Errorf("runtime role %s may do more than read and write the application's tables (%s); "+
			"drop or alter it so that it has none of that", r.app, strings.Join(extra, ", "))
	case !login:
		return fmt.Errorf("runtime role %s cannot log in; alter role %s login", r.app, r.app)
	}
	return nil
}

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// Fingerprint identifies what Up makes of an empty database: the embedded
// migrations and the runtime role's grants. The test kit names its
// template database by it.
func Fingerprint() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(db.Migrations, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := db.Migrations.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
		return nil
	})
	fmt.Fprintf(h, "role\x00%s\x00%s\x00", AppRole, DevAppPassword)
	for _, stmt := range append(DatabaseGrants("db"), grantStatements(pgx.Identifier{AppRole}.Sanitize())...) {
		fmt.Fprintf(h, "%s\x00", stmt)
	}
	return hex.EncodeToString(h.Sum(nil)), err
}
