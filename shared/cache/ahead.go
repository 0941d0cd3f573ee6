package cache

import (
	"context"
	"errors"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Lookup names an entry to read ahead: the entry key of scope Scope, as
// GetOrLoad names it.
type Lookup struct {
	Scope Scope
	Key   string
}

// ReadAhead reads the entries of lookups (each with its scope's version)
// in one round trip, a pipeline on Redis, and returns ctx carrying what it
// read. GetOrLoad, called with that ctx for one of these entries, takes
// the value read here instead of asking the store again: a request that
// knows what it will read pays one round trip, not one per entry.
//
// What ReadAhead read is served once, only to the request whose ctx
// carries it, and never after that request wrote to the cache: an
// Invalidate, Drop or Delete with that ctx discards everything read
// ahead, so a request reads its own writes. Nothing is kept across
// requests, so a value read ahead is exactly as fresh as one GetOrLoad
// would have read at the same moment; correctness across instances (a
// write in one Lambda instance seen by the next request in another) rests
// on the shared store as it does without ReadAhead.
//
// When the store cannot be reached, ctx comes back unchanged.
func (c *Cache) ReadAhead(ctx context.Context, lookups ...Lookup) context.Context {
	if c == nil || len(lookups) == 0 {
		return ctx
	}
	groups := make([][]string, len(lookups))
	for i, l := range lookups {
		dk := c.dataKey(l.Scope, l.Key)
		if l.Scope.versioned() {
			groups[i] = []string{c.versionKey(l.Scope), dk}
		} else {
			groups[i] = []string{dk}
		}
	}
	var vals [][][]byte
	if !c.call(ctx, "read ahead", func(ctx context.Context) (err error) {
		vals, err = getGroups(ctx, c.b, groups)
		return err
	}) {
		return ctx
	}
	a := &ahead{c: c, vals: make(map[string][][]byte, len(groups))}
	for i, g := range groups {
		a.vals[g[len(g)-1]] = vals[i]
	}
	return context.WithValue(ctx, aheadKey{}, a)
}

type aheadKey struct{}

// ahead is what ReadAhead read for one request, by data key.
type ahead struct {
	c    *Cache
	mu   sync.Mutex
	vals map[string][][]byte
}

// takeAhead returns, once, what ReadAhead read for data key dk of c.
func (c *Cache) takeAhead(ctx context.Context, dk string) ([][]byte, bool) {
	a, _ := ctx.Value(aheadKey{}).(*ahead)
	if a == nil || a.c != c {
		return nil, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	v, ok := a.vals[dk]
	delete(a.vals, dk)
	return v, ok
}

// forgetAhead discards what ReadAhead read for the request of ctx: the
// request has written to the cache.
func (c *Cache) forgetAhead(ctx context.Context) {
	if a, _ := ctx.Value(aheadKey{}).(*ahead); a != nil && a.c == c {
		a.mu.Lock()
		clear(a.vals)
		a.mu.Unlock()
	}
}

// groupGetter is a Backend that reads several groups of keys in one round
// trip.
type groupGetter interface {
	GetGroups(ctx context.Context, groups [][]string) ([][][]byte, error)
}

func getGroups(ctx context.Context, b Backend, groups [][]string) ([][][]byte, error) {
	if g, ok := b.(groupGetter); ok {
		return g.GetGroups(ctx, groups)
	}
	out := make([][][]byte, len(groups))
	for i, keys := range groups {
		v, err := b.Get(ctx, keys...)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// GetGroups reads each group of keys with one MGET, all of them in one
// pipeline: one round trip. A group's keys share a hash tag (a scope's
// version and entry), so each MGET stays within one cluster slot.
func (r *Redis) GetGroups(ctx context.Context, groups [][]string) ([][][]byte, error) {
	cmds := make([]*redis.SliceCmd, len(groups))
	_, err := r.client().Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, keys := range groups {
			cmds[i] = p.MGet(ctx, keys...)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([][][]byte, len(groups))
	for i, cmd := range cmds {
		vals, err := cmd.Result()
		if err != nil {
			return nil, err
		}
		out[i] = make([][]byte, len(vals))
		for j, v := range vals {
			if s, ok := v.(string); ok {
				out[i][j] = []byte(s)
			}
		}
	}
	return out, nil
}
