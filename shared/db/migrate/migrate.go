// Package migrate applies the embedded schema migrations with goose,
// creates the runtime role every other function connects as and grants it
// exactly DML on the application's tables, and creates a database when it
// is missing. ops/migrate runs it at deploy, the local server at start, and
// the test kit for each test database, always connected as the schema's
// owner.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/personalcrm/core/shared/db"
)

// Result says what Up did.
type Result struct {
	Applied []int64
	Version int64
}

// Up applies every pending migration to the database at url, connected as
// the schema's owner, then sets up the runtime role (AppRole): created when
// missing, with DevAppPassword, and granted DML on the application's
// tables only. It is for local development and tests; the deploy uses
// UpConfig. Concurrent callers are serialised by PostgreSQL advisory
// locks, so two test processes never apply the same migration twice.
func Up(ctx context.Context, url string, log *slog.Logger) (Result, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return Result{}, fmt.Errorf("parse database url: %w", errors.Unwrap(err))
	}
	return upConfig(ctx, cfg, nil, log, DevAppPassword)
}

// UpConfig is Up for a parsed connection config, as the deploy runs it:
// the runtime role, when it creates it, gets no password (on RDS it signs
// in with IAM, as a member of rds_iam). beforeConnect, when not nil, runs
// before each connection is made with a copy of cfg, as
// db.Options.BeforeConnect does for a pool (db.IAMAuth sets a fresh IAM
// token as the password).
func UpConfig(ctx context.Context, cfg *pgx.ConnConfig, beforeConnect func(context.Context, *pgx.ConnConfig) error, log *slog.Logger) (Result, error) {
	return upConfig(ctx, cfg, beforeConnect, log, "")
}

func upConfig(ctx context.Context, cfg *pgx.ConnConfig, beforeConnect func(context.Context, *pgx.ConnConfig) error, log *slog.Logger, password string) (Result, error) {
	var opts []stdlib.OptionOpenDB
	if beforeConnect != nil {
		opts = append(opts, stdlib.OptionBeforeConnect(beforeConnect))
	}
	sqlDB := stdlib.OpenDB(*cfg, opts...)
	defer sqlDB.Close()
	if err := refuseAppRole(ctx, sqlDB); err != nil {
		return Result{}, err
	}
	res, err := up(ctx, sqlDB, log)
	if err != nil {
		return res, err
	}
	if err := setupAppRole(ctx, sqlDB, defaultRoles, password); err != nil {
		return res, err
	}
	return res, nil
}

func up(ctx context.Context, sqlDB *sql.DB, log *slog.Logger) (Result, error) {
	migrations, err := fs.Sub(db.Migrations, "migrations")
	if err != nil {
		return Result{}, err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return Result{}, err
	}
	opts := []goose.ProviderOption{goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true)}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations, opts...)
	if err != nil {
		return Result{}, fmt.Errorf("load migrations: %w", err)
	}
	results, err := p.Up(ctx)
	var res Result
	for _, r := range results {
		if r.Error == nil {
			res.Applied = append(res.Applied, r.Source.Version)
			if log != nil {
				log.InfoContext(ctx, "migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration_ms", r.Duration.Milliseconds())
			}
		}
	}
	if err != nil {
		return res, fmt.Errorf("apply migrations: %w", err)
	}
	if res.Version, err = p.GetDBVersion(ctx); err != nil {
		return res, fmt.Errorf("read schema version: %w", err)
	}
	return res, nil
}

// Latest is the version of the newest embedded migration.
func Latest() (int64, error) {
	migrations, err := fs.Sub(db.Migrations, "migrations")
	if err != nil {
		return 0, err
	}
	entries, err := fs.ReadDir(migrations, ".")
	if err != nil {
		return 0, err
	}
	var latest int64
	for _, e := range entries {
		var v int64
		if _, err := fmt.Sscanf(e.Name(), "%d_", &v); err == nil && v > latest {
			latest = v
		}
	}
	return latest, nil
}

// EnsureDatabase creates the database named in url when it does not exist,
// connecting to the server's "postgres" database to do so. It reports
// whether it created it.
func EnsureDatabase(ctx context.Context, url string) (bool, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return false, fmt.Errorf("parse database url: %w", errors.Unwrap(err))
	}
	name := cfg.Database
	if name == "" {
		return false, errors.New("database url names no database")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return false, conn.Close(ctx)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "3D000" { // invalid_catalog_name
		return false, err
	}
	admin := cfg.Copy()
	admin.Database = "postgres"
	conn, err = pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "create database "+pgx.Identifier{name}.Sanitize())
	if errors.As(err, &pe) && pe.Code == "42P04" { // created meanwhile
		return false, nil
	}
	return err == nil, err
}
