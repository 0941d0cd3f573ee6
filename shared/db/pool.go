package db

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Pool is the connection pool the functions share: pgx's pool, made to
// ride out a restart or failover of the database.
//
// When a pooled connection turns out to be dead (the server terminated
// it, or it broke), every idle connection is discarded, since a restart
// leaves each of them dead, and the statement runs once more on a fresh
// connection if that is safe: when nothing of it was sent
// (pgconn.SafeToRetry), when the server answered it by ending the session
// (57P01 and the like: the statement's transaction was rolled back), or
// when it is read-only (it begins with SELECT). A write whose connection
// broke without an answer is not run twice: the server may have done it.
// InTx retries whole transactions instead.
//
// A SELECT through a Pool must therefore not call a function that writes.
type Pool struct {
	*pgxpool.Pool
	// purgedAt is when idle connections were last discarded, in
	// nanoseconds since the Unix epoch.
	purgedAt atomic.Int64
	retried  atomic.Int64
	dead     atomic.Int64
	purges   atomic.Int64
}

// Recoveries counts what a Pool did about dead connections.
type Recoveries struct {
	// Retried is how many statements and transactions ran again on a
	// fresh connection.
	Retried int64
	// Purges is how many times the idle connections were discarded.
	Purges int64
	Dead   int64
}

// Recoveries reports what the pool did about dead connections so far.
func (p *Pool) Recoveries() Recoveries {
	return Recoveries{Retried: p.retried.Load(), Purges: p.purges.Load(), Dead: p.dead.Load()}
}

// Exec runs a statement, once more on a fresh connection when its
// connection was dead and running it again is safe.
func (p *Pool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	start := time.Now()
	tag, err := p.Pool.Exec(ctx, sql, args...)
	if err != nil && p.again(ctx, start, sql, err) {
		tag, err = p.Pool.Exec(ctx, sql, args...)
	}
	return tag, err
}

// Query runs a query, once more on a fresh connection when its
// connection was dead before any row came back and running it again is
// safe.
func (p *Pool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	start := time.Now()
	rows, err := p.Pool.Query(ctx, sql, args...)
	if err != nil {
		if !p.again(ctx, start, sql, err) {
			return rows, err
		}
		return p.Pool.Query(ctx, sql, args...)
	}
	return &retryRows{Rows: rows, p: p, ctx: ctx, start: start, sql: sql, args: args}, nil
}

// QueryRow runs a query for one row, as Query does.
func (p *Pool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return &retryRow{p: p, ctx: ctx, start: time.Now(), sql: sql, args: args, row: p.Pool.QueryRow(ctx, sql, args...)}
}

// Begin starts a transaction, on a fresh connection when the first one
// was dead: nothing has happened in the transaction yet.
func (p *Pool) Begin(ctx context.Context) (pgx.Tx, error) {
	return p.BeginTx(ctx, pgx.TxOptions{})
}

// BeginTx is Begin with options.
func (p *Pool) BeginTx(ctx context.Context, o pgx.TxOptions) (pgx.Tx, error) {
	start := time.Now()
	tx, err := p.Pool.BeginTx(ctx, o)
	if err != nil && ctx.Err() == nil && connDied(err) {
		p.purge(start)
		p.retried.Add(1)
		tx, err = p.Pool.BeginTx(ctx, o)
	}
	return tx, err
}

// again decides whether a statement that failed with err, started at
// start, runs once more; when its connection died, it discards the idle
// connections first.
func (p *Pool) again(ctx context.Context, start time.Time, sql string, err error) bool {
	if ctx.Err() != nil || !connDied(err) {
		return false
	}
	p.dead.Add(1)
	p.purge(start)
	if !pgconn.SafeToRetry(err) && !terminated(err) && !readOnly(sql) {
		return false
	}
	p.retried.Add(1)
	return true
}

// purge discards the idle connections, and those in use as they come
// back, unless that was done since start: a statement that began before
// the last purge may have held a connection that purge already
// condemned. After a restart every connection of the pool is dead, and
// one retry per statement would not get past them one by one.
func (p *Pool) purge(start time.Time) {
	last := p.purgedAt.Load()
	if last >= start.UnixNano() || !p.purgedAt.CompareAndSwap(last, time.Now().UnixNano()) {
		return
	}
	p.purges.Add(1)
	p.Pool.Reset()
}

// readOnly reports whether a statement only reads: it begins with SELECT
// (after any comments). A SELECT ... FOR UPDATE outside a transaction
// holds its locks only while it runs, so it counts as a read.
func readOnly(sql string) bool {
	for {
		sql = strings.TrimLeft(sql, " \t\r\n(")
		switch {
		case strings.HasPrefix(sql, "--"):
			i := strings.IndexByte(sql, '\n')
			if i < 0 {
				return false
			}
			sql = sql[i+1:]
		case strings.HasPrefix(sql, "/*"):
			i := strings.Index(sql, "*/")
			if i < 0 {
				return false
			}
			sql = sql[i+2:]
		default:
			return len(sql) > 6 && strings.EqualFold(sql[:6], "select") && !isIdentByte(sql[6])
		}
	}
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// retryRows runs its query again when its connection was dead before the
// first row.
type retryRows struct {
	pgx.Rows
	p     *Pool
	ctx   context.Context
	start time.Time
	sql   string
	args  []any
	// settled: a row came, or the query ran again; no more retries.
	settled bool
}

func (r *retryRows) Next() bool {
	if r.Rows.Next() {
		r.settled = true
		return true
	}
	if r.settled {
		return false
	}
	r.settled = true
	if err := r.Rows.Err(); err == nil || !r.p.again(r.ctx, r.start, r.sql, err) {
		return false
	}
	r.Rows.Close()
	// On failure pgxpool returns rows that report the error.
	r.Rows, _ = r.p.Pool.Query(r.ctx, r.sql, r.args...)
	return r.Next()
}

// retryRow runs its query again when its connection was dead.
type retryRow struct {
	p     *Pool
	ctx   context.Context
	start time.Time
	sql   string
	args  []any
	row   pgx.Row
}

func (r *retryRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if err != nil && r.p.again(r.ctx, r.start, r.sql, err) {
		err = r.p.Pool.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
	}
	return err
}
