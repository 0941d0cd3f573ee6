// Package db opens the PostgreSQL pool, runs transactions and translates
// database errors into the kinds of shared/errs, so that domain code never
// imports pgconn. Queries go through Querier, which a pool and a transaction
// both satisfy.
package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/personalcrm/core/shared/errs"
)

// Querier runs statements; *pgxpool.Pool, *pgx.Conn and pgx.Tx satisfy it.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Beginner starts transactions; *pgxpool.Pool and pgx.Tx satisfy it.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Pool is the connection pool type the functions share.
type Pool = pgxpool.Pool

// Tx is a transaction.
type Tx = pgx.Tx

// Mode selects pool settings for where the process runs.
type Mode int

// The pool modes.
const (
	// Local is a long-running process: a larger pool.
	Local Mode = iota
	// Lambda is one invocation at a time per environment, through RDS Proxy.
	Lambda
)

// Options tune Open beyond the URL.
type Options struct {
	Mode Mode
	// BeforeConnect may change a connection's settings just before it is
	// made, e.g. to set a short-lived IAM token as the password.
	BeforeConnect func(context.Context, *pgx.ConnConfig) error
	// MaxConns overrides the mode's pool size.
	MaxConns int32
}

// Open builds a pool for url. It does not connect: the first query does,
// so a Lambda's init does no network I/O.
//
// Statements use QueryExecModeExec: one round trip with an unnamed
// statement, nothing prepared by name, so RDS Proxy never pins the
// session to a client.
func Open(ctx context.Context, url string, o Options) (*Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", redactParseError(err))
	}
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	cfg.ConnConfig.StatementCacheCapacity = 0
	cfg.ConnConfig.DescriptionCacheCapacity = 0
	cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	switch o.Mode {
	case Lambda:
		// One invocation at a time; a second connection serves work a
		// handler runs concurrently. Frozen environments keep no idle
		// connections worth health-checking in the background.
		cfg.MaxConns = 2
		cfg.MinConns = 0
		cfg.MaxConnIdleTime = 5 * time.Minute
		cfg.MaxConnLifetime = 30 * time.Minute
		cfg.HealthCheckPeriod = time.Minute
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	default:
		cfg.MaxConns = 10
		cfg.MinConns = 0
		cfg.MaxConnIdleTime = 20 * time.Second
		cfg.MaxConnLifetime = time.Hour
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	if o.BeforeConnect != nil {
		cfg.BeforeConnect = o.BeforeConnect
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}
	return pool, nil
}

// redactParseError drops the URL (with its password) that pgx puts in
// parse errors.
func redactParseError(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		if pe.Unwrap() != nil {
			return errors.New(pe.Unwrap().Error())
		}
		return errors.New("invalid connection string")
	}
	return err
}

// InTx runs fn in a transaction on b: committed when fn returns nil,
// rolled back otherwise (and on panic).
func InTx(ctx context.Context, b Beginner, fn func(tx Tx) error) error {
	return pgx.BeginFunc(ctx, b, fn)
}

// Ping checks that the database answers.
func Ping(ctx context.Context, pool *Pool) error {
	_, err := pool.Exec(ctx, "select 1")
	return err
}

// PostgreSQL error codes Err translates.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeCheckViolation      = "23514"
	codeInvalidText         = "22P02"
	codeStringTooLong       = "22001"
)

// Err translates a database error for a statement about what ("contact"):
// no rows is NotFound, a unique violation is Conflict, a foreign key
// violation is NotFound of the referenced row, connection failures are
// Unavailable. Anything else is returned wrapped, as an internal error.
func Err(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return errs.NotFound(what)
	}
	if _, ok := errs.As(err); ok {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeUniqueViolation:
			return &errs.Error{Kind: errs.KindConflict, Message: "A " + what + " with these details already exists", Err: err}
		case codeForeignKeyViolation:
			return &errs.Error{Kind: errs.KindNotFound, Message: "A referenced object was not found", Err: err}
		case codeCheckViolation, codeInvalidText, codeStringTooLong:
			return &errs.Error{Kind: errs.KindInvalid, Message: errs.InvalidMessage, Err: err}
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) || isConnectError(err) {
		return errs.Unavailable("database", err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}
