package logging

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
)

// Keys of the attributes the API and job adapters attach to the context of
// an invocation.
const (
	RequestIDKey = "request_id"
	FunctionKey  = "function"
	ColdStartKey = "cold_start"
	UserIDKey    = "user_id"
	JobIDKey     = "job_id"
)

type ctxKey struct{}

// carried is what WithAttrs puts in a context.
type carried struct {
	attrs []slog.Attr

	// bound holds, for each inner handler that logged with this context,
	// that handler with attrs bound, so that they are redacted and formatted
	// once per context rather than once per record.
	bound atomic.Pointer[[]binding]
}

type binding struct {
	base, bound slog.Handler
}

// maxBindings bounds the handlers a context remembers; loggers beyond it
// bind the attributes at every record.
const maxBindings = 8

// WithAttrs returns a context carrying attrs in addition to those ctx already
// carries. Every record logged with the returned context, at any level and
// under any group, has them at the top level. An attribute replaces one
// already carried under the same key; attributes with an empty key are
// ignored. A LogValuer among attrs is resolved once per logger, not at
// every record.
func WithAttrs(ctx context.Context, attrs ...slog.Attr) context.Context {
	old := fromContext(ctx)
	merged := make([]slog.Attr, len(old), len(old)+len(attrs))
	copy(merged, old)
	for _, a := range attrs {
		if a.Key == "" {
			continue
		}
		if i := index(merged, a.Key); i >= 0 {
			merged[i] = a
			continue
		}
		merged = append(merged, a)
	}
	if len(merged) == 0 {
		return ctx
	}
	return &carrier{Context: ctx, carried: carried{attrs: merged}}
}

// carrier is a context carrying attributes: the context and what it
// carries are one allocation, as a request's contexts are made often.
type carrier struct {
	context.Context
	carried carried
}

func (c *carrier) Value(key any) any {
	if key == (ctxKey{}) {
		return &c.carried
	}
	return c.Context.Value(key)
}

// Attrs returns a copy of the attributes ctx carries, in the order they were
// first added.
func Attrs(ctx context.Context) []slog.Attr {
	return slices.Clone(fromContext(ctx))
}

// Lookup returns the value ctx carries under key.
func Lookup(ctx context.Context, key string) (slog.Value, bool) {
	attrs := fromContext(ctx)
	if i := index(attrs, key); i >= 0 {
		return attrs[i].Value, true
	}
	return slog.Value{}, false
}

func carriedBy(ctx context.Context) *carried {
	if ctx == nil {
		return nil
	}
	c, _ := ctx.Value(ctxKey{}).(*carried)
	return c
}

func fromContext(ctx context.Context) []slog.Attr {
	if c := carriedBy(ctx); c != nil {
		return c.attrs
	}
	return nil
}

// bind returns base with the carried attributes bound to it (base redacts
// them).
func (c *carried) bind(base slog.Handler) slog.Handler {
	old := c.bound.Load()
	if old != nil {
		for _, b := range *old {
			if b.base == base {
				return b.bound
			}
		}
	}
	bound := base.WithAttrs(slices.Clone(c.attrs))
	for old == nil || len(*old) < maxBindings {
		list := make([]binding, 0, maxBindings)
		if old != nil {
			list = append(list, *old...)
		}
		list = append(list, binding{base: base, bound: bound})
		if c.bound.CompareAndSwap(old, &list) {
			break
		}
		old = c.bound.Load()
	}
	return bound
}

func index(attrs []slog.Attr, key string) int {
	for i, a := range attrs {
		if a.Key == key {
			return i
		}
	}
	return -1
}
