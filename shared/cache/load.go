package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"time"
)

// GetOrLoad returns the entry key of scope s, or calls load, stores its
// value for ttl and returns it: the cached-method decorator of the original
// design, with Key(name, args...) as the key. Concurrent misses of one key
// in this process share one load. Only load's errors come back; the cache's
// own are logged and counted, and then the value is simply loaded.
//
// The value is shared with concurrent callers of the same load: treat it as
// read-only.
func GetOrLoad[T any](ctx context.Context, c *Cache, s Scope, key string, ttl time.Duration, load func(context.Context) (T, error)) (T, error) {
	if c == nil {
		return load(ctx)
	}
	dk := c.dataKey(s, key)
	keys := []string{dk}
	if s.versioned() {
		keys = []string{c.versionKey(s), dk}
	}
	vals, reachable := c.takeAhead(ctx, dk)
	if !reachable {
		reachable = c.call(ctx, "get", func(ctx context.Context) (err error) {
			vals, err = c.b.Get(ctx, keys...)
			return err
		})
	}
	if !reachable {
		// Skipped or failed: the request goes on as if there were no
		// cache, and does not try it again.
		return load(ctx)
	}
	var stamp []byte
	raw := vals[len(vals)-1]
	if s.versioned() {
		stamp = vals[0]
	}
	if v, ok := decode[T](raw, stamp, s.versioned()); ok {
		c.count(ctx, "CacheHit")
		return v, nil
	}
	c.count(ctx, "CacheMiss")

	// Callers that saw different versions must not share a load: one that
	// saw the newer version may need a value written after the other's
	// load began.
	flight := dk + "\x00" + string(stamp)
	// The first caller loads in its own goroutine; the others wait for it,
	// at most until its deadline. The load is shared, so the first caller
	// giving up must not cancel it for the others.
	v, err, _ := c.flights.Do(flight, func() (any, error) {
		lctx := context.WithoutCancel(ctx)
		if dl, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			lctx, cancel = context.WithDeadline(lctx, dl)
			defer cancel()
		}
		v, err := load(lctx)
		if err != nil {
			return v, err
		}
		c.store(lctx, s, dk, stamp, v, ttl)
		return v, nil
	})
	out, _ := v.(T)
	return out, err
}

// store writes v under key stamped with the version seen before it was
// loaded. Without a version there is nothing to stamp it with: the version
// is created instead, and the next read stores the entry.
func (c *Cache) store(ctx context.Context, s Scope, key string, stamp []byte, v any, ttl time.Duration) {
	if s.versioned() && stamp == nil {
		vk := c.versionKey(s)
		c.call(ctx, "create version", func(ctx context.Context) error {
			return c.b.SetNX(ctx, vk, newStamp(), versionTTL)
		})
		return
	}
	var buf bytes.Buffer
	buf.Write(stamp)
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		c.log.WarnContext(ctx, "cache encode", "key", key, "err", err)
		return
	}
	if buf.Len() > MaxValue {
		return
	}
	c.call(ctx, "set", func(ctx context.Context) error { return c.b.Set(ctx, key, buf.Bytes(), ttl) })
}

// decode returns the value of raw when it is there and, for a versioned
// entry, carries the current stamp.
func decode[T any](raw, stamp []byte, versioned bool) (T, bool) {
	var v T
	if raw == nil {
		return v, false
	}
	if versioned {
		if len(stamp) != stampLen || len(raw) < stampLen || !bytes.Equal(raw[:stampLen], stamp) {
			return v, false
		}
		raw = raw[stampLen:]
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, false
	}
	return v, true
}
