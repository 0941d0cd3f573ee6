//go:build linux || darwin

package db

import (
	"crypto/tls"
	"errors"
	"syscall"

	"github.com/jackc/pgx/v5"
)

// alive reports whether a pooled connection may still be open: nothing
// has arrived on it since its last statement. An idle connection
// receives nothing unless the server is ending it (a restart sends
// SQLSTATE 57P01, then closes); peeking at the socket without blocking
// finds that before a statement is sent, for the cost of one system
// call.
func alive(c *pgx.Conn) bool {
	nc := c.PgConn().Conn()
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	// Control, not Read: Read waits for the descriptor's read lock, which
	// pgconn's background reader can hold in a blocked read of an idle
	// connection; a peek that neither waits nor consumes needs no lock.
	open := true
	err = rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Would block: nothing there, the connection is idle and open.
		// Anything else is the end: bytes (a goodbye), EOF or an error.
		open = n < 0 && (errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK))
	})
	return open && err == nil
}
