// Package catalog is the one list of every function the system deploys: each
// API route, job type, scheduled task and operation, with the settings the
// infrastructure, the local server and each Lambda main read from it.
//
// It is data only and imports nothing but the standard library, so that
// infra, functions and shared packages can all depend on it.
package catalog

import (
	"fmt"
	"slices"
	"time"
)

// Kind says how a function is invoked.
type Kind string

// The kinds of function.
const (
	// Route is an HTTP API route behind API Gateway.
	Route Kind = "route"
	// Job consumes one job type from its SQS queue.
	Job Kind = "job"
	// Op is an operational task: run at deploy time or on a schedule.
	Op Kind = "op"
)

// Access says who may call a route.
type Access string

// The access levels of a route.
const (
	// Public routes need no session.
	Public Access = "public"
	// Signed routes need a valid session; without one they answer 401.
	Signed Access = "signed"
)

// Resource is something outside the function's own code that it may touch.
// Configuration requires, and the infrastructure grants, exactly the
// resources an entry names.
type Resource string

// The resources a function may use.
const (
	// Database is PostgreSQL (through RDS Proxy in AWS).
	Database Resource = "database"
	// Cache is Redis/Valkey (ElastiCache in AWS).
	Cache Resource = "cache"
	// Google is the Google OAuth client (id and secret).
	Google Resource = "google"
	// TokenKeys are the keys that encrypt provider tokens at rest.
	TokenKeys Resource = "token-keys"
	// OpenAI is the OpenAI API key.
	OpenAI Resource = "openai"
	// QueueStats is reading the depth of every job type's queue and
	// dead-letter queue (not sending to or receiving from them).
	QueueStats Resource = "queue-stats"
)

// Function is one deployable function.
type Function struct {
	// Name is unique, lower-case and hyphenated. It names the Lambda, its
	// folder under functions/, and the OpenAPI operation id of a route.
	Name string
	Kind Kind
	// Summary is one line saying what the function does.
	Summary string

	// Method and Path are a route's HTTP method and path pattern, with
	// path parameters in braces ("/v1/contacts/{id}").
	Method string
	Path   string
	// Access is who may call a route.
	Access Access
	// Tag groups routes in the API document.
	Tag string

	// MemoryMB is the Lambda memory size.
	MemoryMB int
	// Timeout bounds one invocation.
	Timeout time.Duration
	// MaxConcurrency caps concurrent executions; 0 leaves it unreserved.
	MaxConcurrency int

	// Uses lists the resources the function may touch.
	Uses []Resource
	// Enqueues lists the job types the function may send to.
	Enqueues []string

	// Job settings (Kind Job). The job type's name is the function's name.
	// MaxAttempts is how many deliveries a job gets before it is dead and
	// its message moves to the dead-letter queue.
	MaxAttempts int
	// BatchSize is the most messages one invocation receives.
	BatchSize int

	// Limit, when set, caps how often one caller may call a route. The
	// limiter keeps its counts in the cache, so the entry uses Cache.
	Limit *Limit
	// CostBearing marks a route each call of which spends money or an
	// outside quota (a paid model call, Gmail or People API calls). Its
	// Limit fails closed: while the limiter's store is down the route
	// answers 503 UNAVAILABLE, where other routes go unlimited.
	CostBearing bool
}

// Limit is a rate limit: at most Requests in each Per window, per signed-in
// user (or per client IP on public routes), with bursts up to Burst.
type Limit struct {
	Requests int
	Per      time.Duration
	Burst    int
}

// Schedule runs a function periodically: EventBridge Scheduler in AWS, a
// ticker in the local server.
type Schedule struct {
	// Name is unique among schedules.
	Name string
	// Every is the period of a rate schedule.
	Every time.Duration
	// Target is the name of the Op or Job function it runs. A Job target
	// receives one job with Payload.
	Target  string
	Payload string
	Summary string
}

// Defaults applied by Lookup and All where an entry leaves a setting zero.
const (
	DefaultMemoryMB = 256
	DefaultTimeout  = 10 * time.Second
	// DefaultMaxAttempts matches the original job queue's retry limit.
	DefaultMaxAttempts = 5
	DefaultBatchSize   = 10
)

// Dir is the folder of the function's main package, relative to the
// repository root.
func (f Function) Dir() string { return "functions/cmd/" + f.Name }

// Needs reports whether f may use r.
func (f Function) Needs(r Resource) bool {
	for _, u := range f.Uses {
		if u == r {
			return true
		}
	}
	return false
}

// CachesSessions reports whether f resolves sessions through the cache: a
// signed route that uses the cache. Such a function reads AUTH_SECRET, from
// which the key that authenticates cached session entries is derived; a
// function that uses the cache without it (public /health) can read and
// write entries but cannot make one the session code accepts.
func (f Function) CachesSessions() bool {
	return f.Kind == Route && f.Access == Signed && f.Needs(Cache)
}

func (f Function) withDefaults() Function {
	if f.MemoryMB == 0 {
		f.MemoryMB = DefaultMemoryMB
	}
	if f.Timeout == 0 {
		f.Timeout = DefaultTimeout
	}
	// A rate limit is kept in the cache: without it the limiter lets
	// every request through.
	if f.Limit != nil && !f.Needs(Cache) {
		f.Uses = append(slices.Clip(f.Uses), Cache)
	}
	if f.Kind == Job {
		if f.MaxAttempts == 0 {
			f.MaxAttempts = DefaultMaxAttempts
		}
		if f.BatchSize == 0 {
			f.BatchSize = DefaultBatchSize
		}
	}
	return f
}

// All returns every function, routes first, each with defaults applied.
func All() []Function {
	out := make([]Function, len(functions))
	for i, f := range functions {
		out[i] = f.withDefaults()
	}
	return out
}

// Lookup returns the function with the given name.
func Lookup(name string) (Function, bool) {
	for _, f := range functions {
		if f.Name == name {
			return f.withDefaults(), true
		}
	}
	return Function{}, false
}

// MustLookup is Lookup for names known at compile time; it panics on an
// unknown name, which is a programming error.
func MustLookup(name string) Function {
	f, ok := Lookup(name)
	if !ok {
		panic(fmt.Sprintf("catalog: no function %q", name))
	}
	return f
}

// Schedules returns every schedule.
func Schedules() []Schedule { return append([]Schedule(nil), schedules...) }

// Routes returns every route.
func Routes() []Function { return ofKind(Route) }

// Jobs returns every job type.
func Jobs() []Function { return ofKind(Job) }

// Ops returns every operational task.
func Ops() []Function { return ofKind(Op) }

func ofKind(k Kind) []Function {
	var out []Function
	for _, f := range All() {
		if f.Kind == k {
			out = append(out, f)
		}
	}
	return out
}
