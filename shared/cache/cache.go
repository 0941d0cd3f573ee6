package cache

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"golang.org/x/sync/singleflight"

	"github.com/personalcrm/core/shared/logging"
	"github.com/personalcrm/core/shared/monitor"
)

// Backend is a store the cache keeps its entries in: Redis or memory.
// Every method may fail; the Cache decides what a failure means.
type Backend interface {
	// Get returns the value of each key, nil for a missing one.
	Get(ctx context.Context, keys ...string) ([][]byte, error)
	// Set stores value under key for ttl.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// SetNX stores value under key for ttl unless key exists.
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes keys; missing keys are not an error.
	Delete(ctx context.Context, keys ...string) error
	// Allow takes one request from the GCRA budget of key.
	Allow(ctx context.Context, key string, r Rate) (Decision, error)
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	// Close releases the store's connections.
	Close() error
}

// Rate is a GCRA rate limit: Requests per Per on average, with bursts of
// up to Burst requests at once.
type Rate struct {
	Requests int
	Per      time.Duration
	Burst    int
}

func (r Rate) check() error {
	if r.Requests < 1 || r.Per <= 0 || r.Burst < 1 {
		return fmt.Errorf("invalid rate %d per %s, burst %d", r.Requests, r.Per, r.Burst)
	}
	return nil
}

// Decision is the outcome of one rate-limit check.
type Decision struct {
	Allowed bool
	// Remaining is how many more requests would be allowed right now.
	Remaining int
	// RetryAfter is how long until the next request is allowed; zero when
	// this one was.
	RetryAfter time.Duration
}

// ErrSkipped is returned by Allow while the circuit breaker keeps the cache
// out of the way, or after the cache failed.
var ErrSkipped = errors.New("cache unavailable")

// Options configure a Cache.
type Options struct {
	Log     *slog.Logger
	Monitor *monitor.Monitor
	// Timeout bounds one operation (DefaultTimeout when zero).
	Timeout time.Duration
	// Prefix starts every key (DefaultPrefix when empty); it must not
	// contain braces, which would break the scopes' hash tags.
	Prefix string
	// RetryAfter is how long the circuit breaker skips the cache after a
	// failure before one request tries it again (DefaultRetryAfter when
	// zero).
	RetryAfter time.Duration
}

// Defaults of Options.
const (
	DefaultTimeout    = 100 * time.Millisecond
	DefaultPrefix     = "crm:"
	DefaultRetryAfter = 2 * time.Second
)

// versionTTL is how long a scope's version lives untouched. Its expiry only
// costs the scope one round of misses.
const versionTTL = 24 * time.Hour

// stampLen is the length of a version stamp.
const stampLen = 8

// MaxValue is the largest encoded value stored; larger ones are not cached.
const MaxValue = 1 << 20

// Cache is a degrading cache over a Backend. A nil *Cache is valid: every
// read loads and nothing is stored, which is how a function runs with the
// cache off.
type Cache struct {
	b          Backend
	log        *slog.Logger
	mon        *monitor.Monitor
	timeout    time.Duration
	prefix     string
	retryAfter time.Duration
	breaker    *gobreaker.TwoStepCircuitBreaker[struct{}]
	flights    singleflight.Group

	// pending are invalidations that failed, retried when the cache answers
	// again: version keys to replace (true) and entries to delete (false).
	pendingMu sync.Mutex
	pending   map[string]bool
	pendingN  atomic.Int32
}

// maxPending bounds the invalidations kept for retry.
const maxPending = 10000

// New returns a Cache over b.
func New(b Backend, o Options) *Cache {
	if o.Log == nil {
		o.Log = logging.Discard()
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		panic("cache: prefix must not contain braces")
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = DefaultRetryAfter
	}
	c := &Cache{b: b, log: o.Log, mon: o.Monitor, timeout: o.Timeout, prefix: o.Prefix, retryAfter: o.RetryAfter, pending: map[string]bool{}}
	c.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "cache",
		MaxRequests: 1,
		Timeout:     o.RetryAfter,
		// One failure opens it: a dead cache must not cost every request
		// its timeout while failures are counted.
		ReadyToTrip: func(n gobreaker.Counts) bool { return n.ConsecutiveFailures >= 1 },
		// A caller that gave up says nothing about the cache.
		IsExcluded: func(err error) bool { return errors.Is(err, errCallerGone) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			switch {
			case to == gobreaker.StateOpen && from == gobreaker.StateClosed:
				c.log.Warn("cache unavailable: skipping it, rate limits not enforced (cost-bearing routes refused)", "retry_after", c.retryAfter.String())
			case to == gobreaker.StateOpen:
				// A failed probe: said already when the breaker first opened.
				c.log.Debug("cache still unavailable")
			case to == gobreaker.StateClosed:
				c.log.Info("cache answers again")
			}
		},
	})
	return c
}

// errCallerGone marks an operation abandoned because its caller's context
// ended first.
var errCallerGone = errors.New("caller gone")

// Backend returns the store under c.
func (c *Cache) Backend() Backend { return c.b }

// Close releases the cache's connections.
func (c *Cache) Close() error {
	if c == nil {
		return nil
	}
	return c.b.Close()
}

// Ping checks the store directly, past the circuit breaker, for health
// reports. Errors: whatever the store answers.
func (c *Cache) Ping(ctx context.Context) error {
	if c == nil {
		return errors.New("cache off")
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return c.b.Ping(ctx)
}

// RetryAfter is how long the circuit breaker skips the store after a
// failure before it tries again.
func (c *Cache) RetryAfter() time.Duration {
	if c == nil {
		return DefaultRetryAfter
	}
	return c.retryAfter
}

// Available reports whether the circuit breaker lets operations through.
func (c *Cache) Available() bool {
	return c != nil && c.breaker.State() != gobreaker.StateOpen
}

// call runs op on the store within the timeout, unless the breaker is
// open. It reports whether op ran and succeeded; failures are logged and
// counted here, once.
func (c *Cache) call(ctx context.Context, op string, fn func(ctx context.Context) error) bool {
	// Failed invalidations go first, so that nothing they would have
	// invalidated is served once the cache answers again.
	if op != opRetry && c.pendingN.Load() > 0 {
		c.retryPending(ctx)
	}
	done, err := c.breaker.Allow()
	if err != nil {
		c.count(ctx, "CacheSkipped")
		return false
	}
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	err = fn(cctx)
	cancel()
	if err != nil && ctx.Err() != nil {
		done(errCallerGone)
		return false
	}
	done(err)
	if err != nil {
		c.log.WarnContext(ctx, "cache error", "op", op, "err", err)
		c.count(ctx, "CacheError")
		return false
	}
	return true
}

// opRetry names the replay of failed invalidations.
const opRetry = "retry invalidation"

func (c *Cache) count(ctx context.Context, name string) {
	c.mon.Count(ctx, name, 1)
}

// Scope is a set of entries invalidated together: Name says what they are
// ("contacts"), Owner whose (a user's id). The zero Scope holds entries that
// are only ever deleted one by one.
type Scope struct {
	Name  string
	Owner string
}

func (s Scope) versioned() bool { return s.Name != "" }

// tag is the scope's hash tag: every key of the scope has it, so a cluster
// keeps them in one slot.
func (s Scope) tag() string { return "{" + s.Name + ":" + s.Owner + "}" }

func (c *Cache) versionKey(s Scope) string { return c.prefix + s.tag() + ":v" }

func (c *Cache) dataKey(s Scope, key string) string {
	if !s.versioned() {
		return c.prefix + key
	}
	return c.prefix + s.tag() + ":" + key
}

// Key names an entry by a name and arguments, like the cached method and
// its arguments. Ids, numbers and booleans appear as they are; any other
// argument (such as a search text) is hashed, so keys carry no free text
// and stay short.
func Key(name string, args ...any) string {
	var b strings.Builder
	b.WriteString(name)
	hashed := false
	var h []string
	for _, a := range args {
		s, plain := keyPart(a)
		if !plain {
			hashed = true
		}
		h = append(h, s)
	}
	if hashed {
		sum := sha256.Sum256([]byte(strings.Join(h, "\x00")))
		b.WriteString(":#")
		b.WriteString(base64.RawURLEncoding.EncodeToString(sum[:18]))
		return b.String()
	}
	for _, s := range h {
		b.WriteByte(':')
		b.WriteString(s)
	}
	return b.String()
}

func keyPart(a any) (string, bool) {
	switch v := a.(type) {
	case nil:
		return "-", true
	case bool:
		return strconv.FormatBool(v), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case fmt.Stringer:
		s := v.String()
		return s, plainKeyText(s)
	case string:
		return strconv.Quote(v), false
	default:
		return fmt.Sprintf("%T:%v", v, v), false
	}
}

// plainKeyText reports whether s can stand in a key as it is: a uuid or
// similar id.
func plainKeyText(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// newStamp returns a random version stamp.
func newStamp() []byte {
	b := make([]byte, stampLen)
	rand.Read(b)
	return b
}

// Invalidate makes every entry of scope s a miss, in one write. When the
// cache cannot be reached the invalidation is kept and retried once it
// answers again.
func (c *Cache) Invalidate(ctx context.Context, s Scope) {
	if c == nil || !s.versioned() {
		return
	}
	c.forgetAhead(ctx)
	key := c.versionKey(s)
	if !c.call(ctx, "invalidate", func(ctx context.Context) error {
		return c.b.Set(ctx, key, newStamp(), versionTTL)
	}) {
		c.addPending(key, true)
	}
}

// Drop removes scope s for an owner who is gone: every entry of the scope
// becomes a miss, as with Invalidate, and no version key of it is left
// behind (its entries, unreachable, expire by their TTL). When the cache
// cannot be reached the drop is kept and retried once it answers again.
func (c *Cache) Drop(ctx context.Context, s Scope) {
	if c == nil || !s.versioned() {
		return
	}
	c.forgetAhead(ctx)
	key := c.versionKey(s)
	if !c.call(ctx, "drop", func(ctx context.Context) error { return c.b.Delete(ctx, key) }) {
		c.addPending(key, false)
	}
}

// Delete removes the entry key of scope s. When the cache cannot be
// reached the deletion is kept and retried once it answers again.
func (c *Cache) Delete(ctx context.Context, s Scope, key string) {
	if c == nil {
		return
	}
	c.forgetAhead(ctx)
	k := c.dataKey(s, key)
	if !c.call(ctx, "delete", func(ctx context.Context) error { return c.b.Delete(ctx, k) }) {
		c.addPending(k, false)
	}
}

func (c *Cache) addPending(key string, version bool) {
	c.pendingMu.Lock()
	defer c.pendingMu.Unlock()
	if len(c.pending) >= maxPending {
		c.log.Warn("cache invalidation dropped: too many pending", "key", key)
		return
	}
	if _, ok := c.pending[key]; !ok {
		c.pendingN.Add(1)
	}
	c.pending[key] = version
}

// retryPending replays failed invalidations, a few per call so that no
// single request pays for many.
func (c *Cache) retryPending(ctx context.Context) {
	const batch = 16
	type op struct {
		key     string
		version bool
	}
	c.pendingMu.Lock()
	ops := make([]op, 0, batch)
	for k, v := range c.pending {
		if len(ops) == batch {
			break
		}
		ops = append(ops, op{k, v})
		delete(c.pending, k)
		c.pendingN.Add(-1)
	}
	c.pendingMu.Unlock()
	for i, o := range ops {
		ok := c.call(ctx, opRetry, func(ctx context.Context) error {
			if o.version {
				return c.b.Set(ctx, o.key, newStamp(), versionTTL)
			}
			return c.b.Delete(ctx, o.key)
		})
		if !ok {
			for _, rest := range ops[i:] {
				c.addPending(rest.key, rest.version)
			}
			return
		}
	}
}

// Allow takes one request from the rate budget of key. Errors: ErrSkipped
// when the cache is off, skipped by the breaker or failing (already logged
// and counted); the caller decides whether to fail open.
func (c *Cache) Allow(ctx context.Context, key string, r Rate) (Decision, error) {
	if c == nil {
		return Decision{}, ErrSkipped
	}
	var d Decision
	k := c.prefix + "rl:" + key
	if !c.call(ctx, "rate limit", func(ctx context.Context) (err error) {
		d, err = c.b.Allow(ctx, k, r)
		return err
	}) {
		return Decision{}, ErrSkipped
	}
	return d, nil
}

// Open returns a Cache on the Redis at url, or in memory when url is empty.
// It does not connect. Errors: a URL that cannot be parsed.
func Open(url string, ro RedisOptions, o Options) (*Cache, error) {
	if url == "" {
		return New(NewMemory(0), o), nil
	}
	if ro.Timeout <= 0 {
		ro.Timeout = o.Timeout
	}
	b, err := NewRedis(url, ro)
	if err != nil {
		return nil, err
	}
	return New(b, o), nil
}
