package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/personalcrm/core/shared/db"
)

// DefaultRetention is how long finished jobs are kept, as the original
// job queue did.
const DefaultRetention = 30 * 24 * time.Hour

// deleteBatch bounds one delete statement, so that retention never holds
// many locks or a long transaction.
const deleteBatch = 5000

// DeleteFinished deletes the jobs that succeeded or died before cutoff and
// returns how many it deleted. It stops early, with what it did so far,
// when ctx ends.
func DeleteFinished(ctx context.Context, q db.Querier, cutoff time.Time) (int64, error) {
	var total int64
	for {
		tag, err := q.Exec(ctx, `delete from jobs where id in (
				select id from jobs where state in ('succeeded', 'dead') and finished_at < $1 limit $2)`,
			cutoff, deleteBatch)
		if err != nil {
			return total, fmt.Errorf("delete finished jobs: %w", db.Err(err, "job"))
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < deleteBatch {
			return total, nil
		}
	}
}

// expiredMessage is what the user reads of a job whose message was lost.
const expiredMessage = "The job stopped before it could finish and will not be retried"

// ExpireStale makes dead the jobs sent, failed or running that have not
// changed since cutoff: their message is gone (past the queue's retention,
// or moved to the dead-letter queue by deliveries that recorded nothing),
// so nothing will finish them. It returns how many it changed.
func ExpireStale(ctx context.Context, q db.Querier, cutoff time.Time) (int64, error) {
	tag, err := q.Exec(ctx, `update jobs set state = 'dead', last_error = $2,
			error = coalesce(error || '; ', '') || 'expired: no outcome recorded since ' || to_char(updated_at, 'YYYY-MM-DD"T"HH24:MI:SSOF'),
			locked_until = null, finished_at = now(), updated_at = now()
		where state in ('sent', 'failed', 'running') and updated_at < $1`, cutoff, expiredMessage)
	if err != nil {
		return 0, fmt.Errorf("expire stale jobs: %w", db.Err(err, "job"))
	}
	return tag.RowsAffected(), nil
}
