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

// Tx is a transaction.
type Tx = pgx.Tx

// Mode selects pool settings for where the process runs.
type Mode int

// The pool modes.
const (
	// Local is a long-running process: a larger pool.
	Local Mode = iota
	// Lambda is one invocation at a time per environment, through RDS
	// Proxy or straight to the instance.
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
// so a Lambda's init does no network I/O. sslrootcert=rds (RDSRootCert)
// in url trusts the Amazon RDS certificate authorities.
//
// Statements use QueryExecModeExec: one round trip with an unnamed
// statement, nothing prepared by name, so RDS Proxy never pins the
// session to a client.
func Open(ctx context.Context, url string, o Options) (*Pool, error) {
	url, rds, err := splitRDSRootCert(url)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", redactParseError(err))
	}
	if rds {
		if err := trustRDS(&cfg.ConnConfig.Config); err != nil {
			return nil, err
		}
	}
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	cfg.ConnConfig.StatementCacheCapacity = 0
	cfg.ConnConfig.DescriptionCacheCapacity = 0
	cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	// Statements add their time to the request's or job's tally.
	cfg.ConnConfig.Tracer = timer{}
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
	// A connection the server ended while it sat idle (a restart sends
	// 57P01 to every session, then closes) is dropped before a statement
	// is sent on it; the pool takes another or dials.
	cfg.PrepareConn = func(_ context.Context, c *pgx.Conn) (bool, error) {
		return alive(c), nil
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		registerUUID(c.TypeMap())
		registerScans(c.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}
	return &Pool{Pool: pool}, nil
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
//
// On a Pool, a transaction whose connection died before its COMMIT was
// sent (a restart or failover of the database) runs again, once, from
// the start, in a new transaction on a fresh connection: the server
// rolled the first back, so nothing of it happened. fn must therefore
// leave nothing behind but its statements (reset what it collects at its
// start). A transaction whose COMMIT was sent and not answered is not
// run again: it may have committed.
func InTx(ctx context.Context, b Beginner, fn func(tx Tx) error) error {
	start := time.Now()
	died, err := runTx(ctx, b, fn)
	p, ok := b.(*Pool)
	if err == nil || !died || !ok || ctx.Err() != nil {
		return err
	}
	p.purge(start)
	p.retried.Add(1)
	_, err = runTx(ctx, b, fn)
	return err
}

// runTx runs fn in one transaction. died reports that the transaction
// failed because its connection died before COMMIT was sent.
func runTx(ctx context.Context, b Beginner, fn func(tx Tx) error) (died bool, err error) {
	tx, err := b.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer func() {
		if r := recover(); r != nil {
			tx.Rollback(context.WithoutCancel(ctx))
			panic(r)
		}
	}()
	if err := fn(tx); err != nil {
		died = tx.Conn() != nil && tx.Conn().IsClosed()
		tx.Rollback(ctx)
		return died, err
	}
	if err := tx.Commit(ctx); err != nil {
		// Nothing of COMMIT sent, or the server ended the session in
		// answer to it: the server rolled back, or will. A COMMIT sent
		// on a connection that broke without an answer may have
		// committed.
		return connDied(err) && (pgconn.SafeToRetry(err) || terminated(err)), err
	}
	return false, nil
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
// violation is NotFound of the referenced row, and a database that is not
// there right now (IsUnavailable) is Unavailable, with RetryAfter.
// Anything else is returned wrapped, as an internal error.
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
	if IsUnavailable(err) {
		e := errs.Unavailable("database", err)
		e.RetryAfter = RetryAfter
		return e
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
	}
	return fmt.Errorf("%s: %w", what, err)
}
