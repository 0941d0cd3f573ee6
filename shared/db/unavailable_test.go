package db

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/personalcrm/core/shared/errs"
)

func pgErr(severity, code string) error {
	return fmt.Errorf("insert contact: %w", &pgconn.PgError{Severity: severity, Code: code, Message: "m"})
}

// TestIsUnavailable: every "the database is not there right now"
// condition is unavailable, and nothing the server said about the
// statement itself, nor the caller's own context ending, is.
func TestIsUnavailable(t *testing.T) {
	t.Parallel()
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	dialCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, refused := pgconn.Connect(dialCtx, "postgres://nobody@127.0.0.1:1/x?connect_timeout=2")
	var ce *pgconn.ConnectError
	if !errors.As(refused, &ce) {
		t.Fatalf("dialling a closed port: %v, want a ConnectError", refused)
	}
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}

	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"terminated by a restart (57P01)", pgErr("FATAL", "57P01"), true},
		{"ended for idling (57P05)", pgErr("FATAL", "57P05"), true},
		{"crash of another backend (57P02)", pgErr("FATAL", "57P02"), true},
		{"starting up (57P03)", pgErr("FATAL", "57P03"), true},
		{"too many connections (53300)", pgErr("FATAL", "53300"), true},
		{"connection failure (08006)", pgErr("FATAL", "08006"), true},
		{"connection exception class 08 (08001)", pgErr("ERROR", "08001"), true},
		{"connection reset", fmt.Errorf("read: %w", reset), true},
		{"unexpected EOF", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), true},
		{"broken pipe", &net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}, true},
		{"read timeout", timeout, true},
		{"connection refused", refused, true},
		{"closed pool connection", fmt.Errorf("acquire: %w", puddle.ErrClosedPool), true},
		{"closed connection", pgconn.ErrConnClosed, true},

		{"unique violation", pgErr("ERROR", "23505"), false},
		{"foreign key violation", pgErr("ERROR", "23503"), false},
		{"check violation", pgErr("ERROR", "23514"), false},
		{"serialization failure", pgErr("ERROR", "40001"), false},
		{"statement cancelled (57014)", pgErr("ERROR", "57014"), false},
		{"undefined table", pgErr("ERROR", "42P01"), false},
		{"request cancelled by its client", fmt.Errorf("query: %w", context.Canceled), false},
		{"statement out of time", fmt.Errorf("query: %w", context.DeadlineExceeded), true},
		{"plain error", errors.New("boom"), false},
		{"nil", nil, false},
	} {
		if got := IsUnavailable(tt.err); got != tt.want {
			t.Errorf("%s: IsUnavailable(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// TestErrUnavailable: Err makes an unavailable database a 503 with a
// retry time, and leaves constraint violations what they are.
func TestErrUnavailable(t *testing.T) {
	t.Parallel()
	err := Err(pgErr("FATAL", "57P01"), "contact")
	e, ok := errs.As(err)
	if !ok || e.Kind != errs.KindUnavailable || e.RetryAfter != RetryAfter {
		t.Fatalf("57P01: %#v, want Unavailable with RetryAfter %v", err, RetryAfter)
	}
	if !errs.Is(Err(pgErr("ERROR", "23505"), "contact"), errs.KindConflict) {
		t.Errorf("a unique violation is no longer a conflict")
	}
	if !errs.Is(Err(pgErr("ERROR", "23503"), "contact"), errs.KindNotFound) {
		t.Errorf("a foreign key violation is no longer not found")
	}
	if k := errs.KindOf(Err(fmt.Errorf("q: %w", context.Canceled), "contact")); k == errs.KindUnavailable {
		t.Errorf("a cancelled request is the database unavailable")
	}
}

// TestConnDied: only a connection the server ended or that broke may be
// retried on another; an answer about the statement may not, and only a
// server's own termination makes a sent write safe to send again.
func TestConnDied(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name             string
		err              error
		died, terminated bool
	}{
		{"57P01 ends the session", pgErr("FATAL", "57P01"), true, true},
		{"57P05 ends the session", pgErr("FATAL", "57P05"), true, true},
		{"08006 ends the session", pgErr("FATAL", "08006"), true, true},
		{"reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, true, false},
		{"EOF", io.ErrUnexpectedEOF, true, false},
		{"too many connections at login is not a pooled connection dying", pgErr("ERROR", "53300"), false, false},
		{"unique violation", pgErr("ERROR", "23505"), false, false},
		{"cancelled", context.Canceled, false, false},
	} {
		if got := connDied(tt.err); got != tt.died {
			t.Errorf("%s: connDied = %v, want %v", tt.name, got, tt.died)
		}
		if got := terminated(tt.err); got != tt.terminated {
			t.Errorf("%s: terminated = %v, want %v", tt.name, got, tt.terminated)
		}
	}
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	for sql, want := range map[string]bool{
		"select 1":                                              true,
		"  SELECT id from contacts":                             true,
		"-- list\nselect * from t":                              true,
		"/* c */ (select 1) union (select 2)":                   true,
		"selected()":                                            false,
		"insert into t values (1)":                              false,
		"update jobs set state = 'running'":                     false,
		"with x as (delete from t returning *) select * from x": false,
		"-- unterminated":                                       false,
	} {
		if got := readOnly(sql); got != want {
			t.Errorf("readOnly(%q) = %v, want %v", sql, got, want)
		}
	}
}

// TestNotRun: only an error that leaves the statement certainly not done
// lets a write that is not idempotent be sent again.
func TestNotRun(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"terminated by a restart", pgErr("FATAL", "57P01"), true},
		{"refused at login: starting up", &pgconn.ConnectError{}, true},
		{"starting up", pgErr("FATAL", "57P03"), true},
		{"reset after sending", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, false},
		{"unexpected EOF", io.ErrUnexpectedEOF, false},
		{"unique violation", pgErr("ERROR", "23505"), false},
		{"closed pool", puddle.ErrClosedPool, false},
		{"cancelled", context.Canceled, false},
	} {
		if got := NotRun(tt.err); got != tt.want {
			t.Errorf("%s: NotRun = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestRetry: Retry tries again while the error is one safe accepts, for
// at most within, and stops at once on any other.
func TestRetry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	down := pgErr("FATAL", "57P03")
	n := 0
	err := Retry(ctx, 5*time.Second, NotRun, func() error {
		if n++; n < 3 {
			return down
		}
		return nil
	})
	if err != nil {
		t.Fatalf("after %d tries: %v, want success", n, err)
	}
	if n != 3 {
		t.Fatalf("%d tries, want 3", n)
	}
	n = 0
	conflict := pgErr("ERROR", "23505")
	if err := Retry(ctx, 5*time.Second, IsUnavailable, func() error { n++; return conflict }); err != conflict || n != 1 {
		t.Fatalf("a conflict: %d tries, %v; want 1", n, err)
	}
	n = 0
	start := time.Now()
	if err := Retry(ctx, 500*time.Millisecond, IsUnavailable, func() error { n++; return down }); err != down || n < 2 {
		t.Fatalf("always down: %d tries, %v", n, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("gave up after %v, want within about 500ms", d)
	}
}
