package queue_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/queue"
	"github.com/personalcrm/core/shared/testkit"
)

// TestClaimsAndSendsOfOverlappingBatchesDoNotDeadlock: producers send
// pages of jobs while workers claim the messages as they arrive, in
// batches that overlap the pages being marked sent, in the reverse order;
// every job is claimed and no statement fails.
func TestClaimsAndSendsOfOverlappingBatchesDoNotDeadlock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testkit.DB(t)
	mem := queue.NewMemory(queue.MemoryOptions{})
	// A page sent but not marked sent is only logged: the log fails it.
	q := queue.New(pool, mem, slog.New(slog.NewTextHandler(failWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	user, _ := testkit.User(t, pool, "race@example.com")
	const producers, pages, page, workers = 4, 25, 20, 6

	var claimed atomic.Int64
	errc := make(chan error, producers+workers)
	wctx, stop := context.WithCancel(ctx)
	var ws sync.WaitGroup
	for range workers {
		ws.Go(func() {
			for wctx.Err() == nil {
				ds, err := mem.Receive(wctx, catalog.ContactExtraction, 10, 50*time.Millisecond)
				if err != nil || len(ds) == 0 {
					continue
				}
				reqs := make([]queue.ClaimRequest, len(ds))
				for i, d := range ds {
					id, err := uuid.Parse(d.JobID)
					if err != nil {
						errc <- err
						return
					}
					reqs[i] = queue.ClaimRequest{ID: id, ReceiveCount: d.ReceiveCount}
				}
				slices.Reverse(reqs)
				c, err := queue.ClaimAll(ctx, pool, catalog.ContactExtraction, reqs, time.Minute)
				if err != nil {
					errc <- err
					return
				}
				claimed.Add(int64(len(c.Claimed)))
			}
		})
	}
	var ps sync.WaitGroup
	for range producers {
		ps.Go(func() {
			for range pages {
				var batch []queue.Payload
				for range page {
					batch = append(batch, extraction(user))
				}
				if err := q.InTx(ctx, func(tx *queue.Tx) error {
					_, err := tx.EnqueueAll(ctx, batch)
					return err
				}); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	ps.Wait()
	for deadline := time.Now().Add(time.Minute); claimed.Load() < producers*pages*page && time.Now().Before(deadline) && len(errc) == 0; {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	ws.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if n := claimed.Load(); n != producers*pages*page {
		t.Errorf("%d of %d jobs claimed", n, producers*pages*page)
	}
}

// failWriter fails the test with every line written to it.
type failWriter struct{ t *testing.T }

func (w failWriter) Write(p []byte) (int, error) {
	w.t.Errorf("logged: %s", p)
	return len(p), nil
}
