//go:build linux || darwin

package db

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestAliveDoesNotWaitForABlockedReader: pgconn's background reader can
// sit in a read of an idle connection; the check before a statement must
// answer at once, not wait for that read to end.
func TestAliveDoesNotWaitForABlockedReader(t *testing.T) {
	url := os.Getenv("TEST_DATABASE_URL")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	nc := c.PgConn().Conn()
	reading := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		close(reading)
		var b [1]byte
		nc.Read(b[:]) // blocks: the server sends nothing to an idle session
	}()
	<-reading
	time.Sleep(50 * time.Millisecond) // let the read block

	answered := make(chan bool, 1)
	go func() { answered <- alive(c) }()
	select {
	case open := <-answered:
		if !open {
			t.Error("an idle, open connection was taken for closed")
		}
	case <-time.After(5 * time.Second):
		t.Error("alive waited for the blocked reader")
	}
	nc.SetReadDeadline(time.Now()) // end the read
	<-done
}
