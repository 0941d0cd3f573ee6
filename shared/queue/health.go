package queue

import (
	"context"
	"fmt"
	"sync"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/health"
)

// KindHealth is what the health report says of one job type.
type KindHealth struct {
	Depth
	// Unsent jobs are due but still in the outbox: a steady number here
	// means sends fail and the relay is not keeping up.
	Unsent int `json:"unsent"`
}

// Check is the health check "queue": the depth of every job type's queue
// and dead-letter queue, and the jobs due but unsent (only these without
// a backend). It is not required:
// the API keeps working while the queue is down, since jobs wait in the
// outbox.
func (q *Queue) Check() health.Check {
	return health.Check{
		Name: "queue",
		Run:  func(context.Context) error { return nil },
		Details: func(ctx context.Context) (map[string]any, error) {
			return q.details(ctx)
		},
	}
}

func (q *Queue) details(ctx context.Context) (map[string]any, error) {
	unsent, err := unsentByKind(ctx, q.db)
	if err != nil {
		return nil, err
	}
	kinds := Kinds()
	if q.backend == nil {
		out := make(map[string]any, len(kinds))
		for _, kind := range kinds {
			out[kind] = map[string]int{"unsent": unsent[kind]}
		}
		return out, nil
	}
	depths := make([]Depth, len(kinds))
	errs := make([]error, len(kinds))
	var wg sync.WaitGroup
	for i, kind := range kinds {
		wg.Go(func() { depths[i], errs[i] = q.backend.Depth(ctx, kind) })
	}
	wg.Wait()
	out := make(map[string]any, len(kinds))
	for i, kind := range kinds {
		if errs[i] != nil {
			return nil, fmt.Errorf("depth of %s: %w", kind, errs[i])
		}
		out[kind] = KindHealth{Depth: depths[i], Unsent: unsent[kind]}
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
