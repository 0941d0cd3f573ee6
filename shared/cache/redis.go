package cache

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Redis is a Backend on a Redis or Valkey server (ElastiCache in AWS),
// through github.com/redis/go-redis/v9. Rate limits use the GCRA script of
// github.com/go-redis/redis_rate/v10: one round trip, atomic on the server.
//
// With RedisOptions.Cluster it speaks to a cluster-mode endpoint (Redis
// Cluster, ElastiCache Serverless) through go-redis's ClusterClient. Every
// command the backend sends stays within one hash slot: a multi-key Get
// names one scope's keys, which share its hash tag, and a rate limit has
// one key; GetGroups pipelines one MGET per group, which on a serverless
// cache's single endpoint is still one round trip.
type Redis struct {
	opt     *redis.Options
	cluster bool
	// The client is built on first use: building it costs a cold start
	// tens of microseconds for nothing when the first request is served
	// from elsewhere, and it connects only then anyway.
	once    sync.Once
	rdb     redis.UniversalClient
	limiter *redis_rate.Limiter
}

// RedisOptions tune NewRedis beyond the URL.
type RedisOptions struct {
	// Password is sent with AUTH (REDIS_PASSWORD); it overrides one in
	// the URL.
	Password string
	// Credentials, when set, supplies the user name and password of each
	// new connection, such as a short-lived ElastiCache IAM token.
	Credentials func(ctx context.Context) (username, password string, err error)
	// Timeout bounds dialling, reading and writing (DefaultTimeout when
	// zero). Operations are also bounded by their context.
	Timeout time.Duration
	// PoolSize caps connections (DefaultPoolSize when zero).
	PoolSize int
	// ConnMaxLifetime retires a connection this long after it was opened
	// (zero: never), such as before ElastiCache closes one authenticated
	// with an IAM token.
	ConnMaxLifetime time.Duration
	// Cluster speaks to a cluster-mode endpoint (Redis Cluster,
	// ElastiCache Serverless): the URL's host is one node (or the
	// serverless endpoint), from which the client learns the slots
	// (CLUSTER SLOTS) on its first command, and follows MOVED and ASK
	// redirects. The URL's database must be 0.
	Cluster bool
}

// AccessString is the ACL that lets a Valkey or Redis user do what the
// Redis backend of a Cache with DefaultPrefix does, and nothing else: the
// commands of Get (GET, MGET), Set, SetNX, Delete (DEL) and Ping; the GCRA
// script of Allow (EVALSHA, EVAL when the script is not loaded yet, and
// the TIME, GET and SET it runs, which Valkey checks too); on the cache's
// keys and the rate limiter's, which github.com/go-redis/redis_rate
// prefixes with "rate:". ElastiCache takes it as a user's access string.
const AccessString = "on ~" + DefaultPrefix + "* ~rate:" + DefaultPrefix + "* -@all " +
	"+ping +get +mget +set +del +evalsha +eval +time"

// ClusterAccessString is AccessString for a cluster-mode client
// (RedisOptions.Cluster), which also reads the slots with CLUSTER SLOTS.
const ClusterAccessString = AccessString + " +cluster|slots"

// DefaultPoolSize suits a Lambda, which serves one request at a time; a
// long-running process may want more.
const DefaultPoolSize = 4

// NewRedis returns a backend for a redis:// or rediss:// (TLS) URL. It
// does not connect: the first operation does, so a Lambda's init does no
// network I/O. Errors: a URL that cannot be parsed.
func NewRedis(url string, o RedisOptions) (*Redis, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("parse redis url: %w", redactURLError(err))
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.PoolSize <= 0 {
		o.PoolSize = DefaultPoolSize
	}
	if o.Password != "" {
		opt.Password = o.Password
	}
	if o.Credentials != nil {
		opt.CredentialsProviderContext = o.Credentials
	}
	if opt.TLSConfig != nil {
		opt.TLSConfig.MinVersion = tls.VersionTLS12
	}
	// RESP2 and no CLIENT SETINFO: a new connection costs one AUTH at
	// most, not a HELLO and two more round trips.
	opt.Protocol = 2
	opt.DisableIdentity = true
	// A cache that does not answer at once is skipped, not retried: the
	// request goes on to the database.
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	opt.DialTimeout = o.Timeout
	opt.ReadTimeout = o.Timeout
	opt.WriteTimeout = o.Timeout
	opt.PoolTimeout = o.Timeout
	opt.ContextTimeoutEnabled = true
	opt.PoolSize = o.PoolSize
	opt.MinIdleConns = 0
	opt.ConnMaxIdleTime = 5 * time.Minute
	opt.ConnMaxLifetime = o.ConnMaxLifetime
	if o.Cluster && opt.DB != 0 {
		return nil, errors.New("parse redis url: a cluster has only database 0")
	}
	return &Redis{opt: opt, cluster: o.Cluster}, nil
}

// client returns the client, building it on first use.
func (r *Redis) client() redis.UniversalClient {
	r.once.Do(func() {
		quietOnce.Do(func() { redis.SetLogger(quietLogger{}) })
		if r.cluster {
			r.rdb = redis.NewClusterClient(clusterOptions(r.opt))
		} else {
			r.rdb = redis.NewClient(r.opt)
		}
		r.limiter = redis_rate.NewLimiter(r.rdb)
	})
	return r.rdb
}

// clusterOptions are o's for a cluster: the same connections, timeouts
// and credentials towards every node. Routing policies are off: they
// would read COMMAND's key specifications (a round trip, and a command
// the access string does not allow) to split multi-key commands across
// slots, which this backend never sends.
func clusterOptions(o *redis.Options) *redis.ClusterOptions {
	return &redis.ClusterOptions{
		Addrs:                      []string{o.Addr},
		Protocol:                   o.Protocol,
		Username:                   o.Username,
		Password:                   o.Password,
		CredentialsProviderContext: o.CredentialsProviderContext,
		MaxRetries:                 o.MaxRetries,
		DialTimeout:                o.DialTimeout,
		DialerRetries:              o.DialerRetries,
		ReadTimeout:                o.ReadTimeout,
		WriteTimeout:               o.WriteTimeout,
		ContextTimeoutEnabled:      o.ContextTimeoutEnabled,
		PoolSize:                   o.PoolSize,
		PoolTimeout:                o.PoolTimeout,
		MinIdleConns:               o.MinIdleConns,
		ConnMaxIdleTime:            o.ConnMaxIdleTime,
		ConnMaxLifetime:            o.ConnMaxLifetime,
		TLSConfig:                  o.TLSConfig,
		DisableIdentity:            o.DisableIdentity,
		DisableRoutingPolicies:     true,
	}
}

var quietOnce sync.Once

// quietLogger sends go-redis's own messages (such as failed dials) to the
// default logger at Debug: the cache logs each failure once itself.
type quietLogger struct{}

func (quietLogger) Printf(ctx context.Context, format string, v ...any) {
	slog.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// redactURLError keeps a password in the URL out of the error.
func redactURLError(err error) error {
	return errors.New("not a valid redis:// or rediss:// URL: " + errKind(err))
}

func errKind(err error) string {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && ue.Unwrap() != nil {
		return ue.Unwrap().Error()
	}
	return "invalid"
}

// Client is the underlying go-redis client, for tests and tools: a
// *redis.Client, or with RedisOptions.Cluster a *redis.ClusterClient.
func (r *Redis) Client() redis.UniversalClient { return r.client() }

// Get implements Backend with GET, or MGET for several keys.
func (r *Redis) Get(ctx context.Context, keys ...string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	if len(keys) == 1 {
		b, err := r.client().Get(ctx, keys[0]).Bytes()
		if errors.Is(err, redis.Nil) {
			return out, nil
		}
		out[0] = b
		return out, err
	}
	vals, err := r.client().MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	for i, v := range vals {
		if s, ok := v.(string); ok {
			out[i] = []byte(s)
		}
	}
	return out, nil
}

// Set implements Backend.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return r.client().Set(ctx, key, value, ttl).Err()
}

// SetNX implements Backend.
func (r *Redis) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return r.client().SetNX(ctx, key, value, ttl).Err()
}

// Delete implements Backend.
func (r *Redis) Delete(ctx context.Context, keys ...string) error {
	return r.client().Del(ctx, keys...).Err()
}

// Allow implements Backend.
func (r *Redis) Allow(ctx context.Context, key string, rate Rate) (Decision, error) {
	if err := rate.check(); err != nil {
		return Decision{}, err
	}
	r.client()
	res, err := r.limiter.Allow(ctx, key, redis_rate.Limit{Rate: rate.Requests, Period: rate.Per, Burst: rate.Burst})
	if err != nil {
		return Decision{}, err
	}
	d := Decision{Allowed: res.Allowed > 0, Remaining: res.Remaining}
	if !d.Allowed && res.RetryAfter > 0 {
		d.RetryAfter = res.RetryAfter
	}
	return d, nil
}

// Ping implements Backend.
func (r *Redis) Ping(ctx context.Context) error { return r.client().Ping(ctx).Err() }

// Close implements Backend.
func (r *Redis) Close() error {
	closed := false
	r.once.Do(func() { closed = true }) // never built: nothing to close
	if closed {
		return nil
	}
	return r.rdb.Close()
}
