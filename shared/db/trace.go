package db

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/monitor"
)

// timer adds the duration of each statement and batch, until its rows are
// read, to the monitor.Tally in its context: the request's or job's
// database time. Without a tally it does nothing.
type timer struct{}

type started struct {
	tally *monitor.Tally
	at    time.Time
}

type startedKey struct{}

func (timer) start(ctx context.Context) context.Context {
	t := monitor.TallyFrom(ctx)
	if t == nil {
		return ctx
	}
	return context.WithValue(ctx, startedKey{}, started{t, time.Now()})
}

func (timer) end(ctx context.Context) {
	if s, ok := ctx.Value(startedKey{}).(started); ok {
		s.tally.Add(time.Since(s.at))
	}
}

func (t timer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return t.start(ctx)
}

func (t timer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	t.end(ctx)
}

func (t timer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return t.start(ctx)
}

func (timer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (t timer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	t.end(ctx)
}
