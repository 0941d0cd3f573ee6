package db

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"
)

// RetryAfter is how long a client is told to wait before retrying when
// the database is unavailable: about what a restart of PostgreSQL takes.
const RetryAfter = 2 * time.Second

// unavailableCodes are the SQLSTATEs of a server that is not there right
// now: shutting down, starting up, or out of connections. Class 08
// (connection exceptions) is matched as a class.
var unavailableCodes = map[string]bool{
	"57P01": true, // admin_shutdown: terminated by a restart or pg_terminate_backend
	"57P02": true, // crash_shutdown: another backend crashed
	"57P03": true, // cannot_connect_now: starting up, shutting down, in recovery
	// idle_session_timeout: the server ended a session left idle (an
	// instance the functions reach without a proxy ends those of frozen
	// environments); a statement that meets it was not run.
	"57P05": true,
	"53300": true, // too_many_connections
}

// IsUnavailable reports whether err says that the database is not there
// right now, so that the same request may succeed a little later: the
// server restarting, failing over, refusing or dropping connections, out
// of connections, or the pool closed. Anything the server answered
// about the statement itself (a constraint violation, bad input, a
// permission) is not, and neither is a request cancelled by its caller.
// A statement that ran out of time is: the database did not answer.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || unavailableCodes[pe.Code]
	}
	if errors.Is(err, context.Canceled) {
		// The caller gave up (a client gone): not the database's failure.
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded) {
		// Not reached, or not answering in time: a failover in progress
		// answers nothing until the new primary takes over.
		return true
	}
	return brokenConn(err) || errors.Is(err, puddle.ErrClosedPool)
}

// brokenConn reports whether err is a connection that broke or was found
// closed, as opposed to an answer of the server.
func brokenConn(err error) bool {
	if errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	// Written nothing on a connection that could not take it. ("conn
	// busy", also safe to retry, is a connection used twice at once: a
	// bug, not an outage.)
	return pgconn.SafeToRetry(err) && !strings.Contains(err.Error(), "conn busy")
}

// connDied reports whether err ended the pooled connection it happened
// on: the server terminated the session, or the connection broke. The
// statement may be tried again on another connection when that is safe.
func connDied(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return false // no connection was made: the server is not there
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return terminated(err)
	}
	return brokenConn(err)
}

// terminated reports whether the server answered a statement by ending
// the session (a restart, failover or pg_terminate_backend): it rolled
// back the statement's transaction, so nothing of it happened.
func terminated(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Severity == "FATAL" && (strings.HasPrefix(pe.Code, "08") || unavailableCodes[pe.Code])
}

// NotRun reports whether err leaves a statement certainly not done: no
// connection could be made, nothing of it was sent, or the server ended
// the session in answer to it (rolling it back). Such a statement may be
// sent again even when it is not idempotent.
func NotRun(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, puddle.ErrClosedPool) {
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Refused at login: starting up, shutting down, out of
		// connections.
		return terminated(err) || pe.Code == "57P03" || pe.Code == "53300"
	}
	return pgconn.SafeToRetry(err) && !strings.Contains(err.Error(), "conn busy")
}

// Retry runs fn until it succeeds, fails in a way that safe does not
// accept, ctx ends or within has passed, waiting a little longer before
// each new try (100ms, doubling, at most a second): for the few writes
// that must get through a restart of the database (the sign-in, a job's
// claim and outcome) rather than leave it to the caller. safe is
// IsUnavailable for a statement that may run twice, NotRun for one that
// may not. It returns fn's last error.
func Retry(ctx context.Context, within time.Duration, safe func(error) bool, fn func() error) error {
	deadline := time.Now().Add(within)
	wait := 100 * time.Millisecond
	for {
		err := fn()
		if err == nil || !safe(err) || errors.Is(err, puddle.ErrClosedPool) || time.Now().Add(wait).After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
	}
}
