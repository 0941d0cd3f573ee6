package queue

import (
	"context"
	"fmt"
	"sync"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/health"
)

// Check is the health check "queue": it answers when the outbox can be
// read, and measures for operators, per job type, the messages of its
// queue and dead-letter queue and the jobs due but unsent ("<type>.queued",
// ".inFlight", ".delayed", ".deadLetters", ".unsent"; only ".unsent"
// without a backend). It is not required: the API keeps working while the
// queue is down, since jobs wait in the outbox.
func (q *Queue) Check() health.Check {
	return health.Check{
		Name:  "queue",
		Run:   func(context.Context) error { return nil },
		Facts: q.facts,
	}
}

func (q *Queue) facts(ctx context.Context) (map[string]float64, error) {
	unsent, err := unsentByKind(ctx, q.db)
	if err != nil {
		return nil, err
	}
	kinds := Kinds()
	out := make(map[string]float64, 5*len(kinds))
	for _, kind := range kinds {
		out[kind+".unsent"] = float64(unsent[kind])
	}
	if q.backend == nil {
		return out, nil
	}
	depths := make([]Depth, len(kinds))
	errs := make([]error, len(kinds))
	var wg sync.WaitGroup
	for i, kind := range kinds {
		wg.Go(func() { depths[i], errs[i] = q.backend.Depth(ctx, kind) })
	}
	wg.Wait()
	for i, kind := range kinds {
		if errs[i] != nil {
			return nil, fmt.Errorf("depth of %s: %w", kind, errs[i])
		}
		d := depths[i]
		out[kind+".queued"] = float64(d.Queued)
		out[kind+".inFlight"] = float64(d.InFlight)
		out[kind+".delayed"] = float64(d.Delayed)
		out[kind+".deadLetters"] = float64(d.DeadLetters)
	}
	return out, nil
}

func unsentByKind(ctx context.Context, q db.Querier) (map[string]int, error) {
	rows, err := q.Query(ctx, `select kind, count(*) from jobs where state = 'pending' and run_at <= now() group by kind`)
	if err != nil {
		return nil, db.Err(err, "job")
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var kind string
		var n int
		if err := rows.Scan(&kind, &n); err != nil {
			return nil, db.Err(err, "job")
		}
		out[kind] = n
	}
	return out, db.Err(rows.Err(), "job")
}
