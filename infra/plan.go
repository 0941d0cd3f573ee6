package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
)

// This file holds the plain-Go rules that turn catalog data into deployment
// settings, so they are checked without synthesizing a template.

// migrateName is the Op that applies database migrations during a deploy.
const migrateName = "migrate"

// Limits of the AWS services the catalog settings are mapped onto.
const (
	maxLambdaTimeout = 15 * time.Minute
	// maxRouteTimeout is the HTTP API's integration timeout: a route that
	// runs longer is cut off with a 503 whatever its Lambda timeout.
	maxRouteTimeout      = 30 * time.Second
	maxVisibilityTimeout = 12 * time.Hour
	// sqsMinMaxConcurrency is the smallest maximum concurrency an SQS event
	// source accepts.
	sqsMinMaxConcurrency = 2
	maxSQSBatchSize      = 10000
	// sqsBatchWithoutWindow is the largest SQS batch allowed without a
	// batching window.
	sqsBatchWithoutWindow = 10
	batchingWindow        = time.Second
	visibilityPerTimeout  = 6
)

// The database connection budget of the jobs and ops (see CAPACITY.md).
const (
	// lambdaPoolConns is the most connections one Lambda environment opens
	// (shared/db's Lambda mode; a test keeps the two equal).
	lambdaPoolConns = 2
	// jobConnectionBudget is the most connections the jobs and ops may
	// hold at once, at their concurrency caps: three quarters of what the
	// smallest instance (t4g.micro, ~80 usable) serves, the rest left to
	// the routes, whose rate the API throttle bounds.
	jobConnectionBudget = 60
)

// secretSpec is an application secret: a Secrets Manager secret whose ARN is
// given to every function whose entry uses Resource, in variable Var.
type secretSpec struct {
	Var      string
	Resource catalog.Resource
	// ID is the construct id.
	ID          string
	Description string
	// Fill says the generated value is a placeholder the operator replaces
	// with a value issued elsewhere (Google, OpenAI) or in a set format.
	Fill bool
	// Also, when set, gives the secret to functions it selects besides
	// those that use Resource.
	Also func(catalog.Function) bool
}

// appSecrets are the secrets functions read at init. The cache has none:
// functions sign in to it with IAM tokens.
var appSecrets = []secretSpec{
	// Signed routes that cache sessions derive the key of cached session
	// entries from it; public ones (health) must not be able to.
	{Var: config.VarAuthSecret, Resource: catalog.Google, ID: "AuthSecret", Also: catalog.Function.CachesSessions,
		Description: "Derives sign-in PKCE verifiers and the key of cached session entries " +
			"(random; replacing it signs nobody out: delete sessions rows for that)"},
	{Var: config.VarGoogleClientSecret, Resource: catalog.Google, ID: "GoogleClientSecret",
		Description: "Google OAuth client secret: replace the placeholder with the value from the Google Cloud console", Fill: true},
	{Var: config.VarTokenKeys, Resource: catalog.TokenKeys, ID: "TokenKeys",
		Description: "Keys that encrypt provider tokens at rest (id:base64-32-byte-key, comma-separated, newest first): replace the placeholder", Fill: true},
	{Var: config.VarOpenAIAPIKey, Resource: catalog.OpenAI, ID: "OpenAIAPIKey",
		Description: "OpenAI API key: replace the placeholder", Fill: true},
}

// provided are the resources the stack knows how to give a function; a
// new kind of resource in the catalog needs its wiring here first.
var provided = map[catalog.Resource]bool{
	catalog.Database: true, catalog.Cache: true, catalog.Google: true,
	catalog.TokenKeys: true, catalog.OpenAI: true, catalog.QueueStats: true,
}

// secretsOf returns the secrets fn may read.
func secretsOf(fn catalog.Function) []secretSpec {
	var out []secretSpec
	for _, s := range appSecrets {
		if fn.Needs(s.Resource) || (s.Also != nil && s.Also(fn)) {
			out = append(out, s)
		}
	}
	return out
}

// queuesOf lists the job types whose queue URL fn is given: those it
// sends to, a job's own (its worker pushes a failed message's visibility
// out), and every queue for a function reading their depths.
func queuesOf(fn catalog.Function, jobs []string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(j string) {
		if !seen[j] {
			seen[j] = true
			out = append(out, j)
		}
	}
	for _, j := range fn.Enqueues {
		add(j)
	}
	if fn.Kind == catalog.Job {
		add(fn.Name)
	}
	if fn.Needs(catalog.QueueStats) {
		for _, j := range jobs {
			add(j)
		}
	}
	sort.Strings(out)
	return out
}

// lambdaTimeout rounds a catalog timeout up to whole seconds, Lambda's unit.
func lambdaTimeout(d time.Duration) time.Duration {
	return ((d + time.Second - 1) / time.Second) * time.Second
}

// batchingWindowOf is the wait for a fuller batch, required by SQS for
// batches above ten messages.
func batchingWindowOf(fn catalog.Function) time.Duration {
	if fn.BatchSize > sqsBatchWithoutWindow {
		return batchingWindow
	}
	return 0
}

// visibilityTimeout gives a job's message time for six attempts at the
// function's timeout (AWS's advice for Lambda consumers, which retry
// throttled invocations within one receive) plus the batching window.
func visibilityTimeout(fn catalog.Function) time.Duration {
	return visibilityPerTimeout*lambdaTimeout(fn.Timeout) + batchingWindowOf(fn)
}

// eventSourceMaxConcurrency is the SQS event source's cap on concurrent
// invocations: the catalog's MaxConcurrency, at least the service minimum;
// zero leaves it unset.
func eventSourceMaxConcurrency(fn catalog.Function) int {
	if fn.MaxConcurrency == 0 {
		return 0
	}
	return max(fn.MaxConcurrency, sqsMinMaxConcurrency)
}

// rateExpression turns a period into an EventBridge Scheduler rate
// expression in the largest whole unit.
func rateExpression(every time.Duration) (string, error) {
	if every < time.Minute || every%time.Minute != 0 {
		return "", fmt.Errorf("period %s is not a whole number of minutes", every)
	}
	n, unit := int64(every/time.Minute), "minute"
	switch {
	case every%(24*time.Hour) == 0:
		n, unit = int64(every/(24*time.Hour)), "day"
	case every%time.Hour == 0:
		n, unit = int64(every/time.Hour), "hour"
	}
	if n != 1 {
		unit += "s"
	}
	return fmt.Sprintf("rate(%d %s)", n, unit), nil
}

// validate checks everything the stack relies on in the catalog data and
// reports every problem at once.
func validate(fns []catalog.Function, schedules []catalog.Schedule) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	byName := map[string]catalog.Function{}
	routes := map[string]string{}
	for _, fn := range fns {
		if fn.Name == "" {
			bad("a function has no name")
			continue
		}
		if _, dup := byName[fn.Name]; dup {
			bad("function %s: listed twice", fn.Name)
		}
		byName[fn.Name] = fn
		if fn.MemoryMB < 128 || fn.MemoryMB > 10240 {
			bad("function %s: memory %d MB is outside Lambda's 128-10240", fn.Name, fn.MemoryMB)
		}
		if fn.Timeout <= 0 || fn.Timeout > maxLambdaTimeout {
			bad("function %s: timeout %s is outside Lambda's 1s-15m", fn.Name, fn.Timeout)
		}
		if fn.MaxConcurrency < 0 {
			bad("function %s: negative max concurrency", fn.Name)
		}
		for _, r := range fn.Uses {
			if !provided[r] {
				bad("function %s: uses %q, which the infrastructure does not provide", fn.Name, r)
			}
		}
		switch fn.Kind {
		case catalog.Route:
			if fn.Method == "" || !strings.HasPrefix(fn.Path, "/") {
				bad("route %s: needs a method and a path starting with /", fn.Name)
			}
			if fn.Timeout > maxRouteTimeout {
				bad("route %s: timeout %s is above the HTTP API's %s; make the work a job", fn.Name, fn.Timeout, maxRouteTimeout)
			}
			key := fn.Method + " " + fn.Path
			if other, dup := routes[key]; dup {
				bad("route %s: %s is also route %s", fn.Name, key, other)
			}
			routes[key] = fn.Name
		case catalog.Job:
			if fn.MaxAttempts < 1 {
				bad("job %s: max attempts must be at least 1", fn.Name)
			}
			if fn.BatchSize < 1 || fn.BatchSize > maxSQSBatchSize {
				bad("job %s: batch size %d is outside SQS's 1-%d", fn.Name, fn.BatchSize, maxSQSBatchSize)
			}
			if fn.Timeout > 0 && visibilityTimeout(fn) > maxVisibilityTimeout {
				bad("job %s: timeout %s needs a visibility timeout above SQS's 12h", fn.Name, fn.Timeout)
			}
		case catalog.Op:
		default:
			bad("function %s: unknown kind %q", fn.Name, fn.Kind)
		}
		if fn.Kind == catalog.Job && fn.MaxConcurrency == 0 && slices.Contains(fn.Uses, catalog.Database) {
			bad("job %s: uses the database without a max concurrency; SQS would scale it past the connection budget", fn.Name)
		}
	}
	for _, fn := range fns {
		for _, j := range fn.Enqueues {
			if t, ok := byName[j]; !ok || t.Kind != catalog.Job {
				bad("function %s: enqueues %q, which is not a job", fn.Name, j)
			}
		}
	}
	if n := jobConnections(fns); n > jobConnectionBudget {
		bad("jobs and ops hold up to %d database connections at their concurrency caps; the budget is %d", n, jobConnectionBudget)
	}
	if m, ok := byName[migrateName]; ok && m.Kind != catalog.Op {
		bad("function %s: must be an op to run at deploy", migrateName)
	}

	seen := map[string]bool{}
	for _, s := range schedules {
		if seen[s.Name] || s.Name == "" {
			bad("schedule %q: needs a unique name", s.Name)
		}
		seen[s.Name] = true
		if _, err := rateExpression(s.Every); err != nil {
			bad("schedule %s: %v", s.Name, err)
		}
		t, ok := byName[s.Target]
		switch {
		case !ok:
			bad("schedule %s: target %q is not in the catalog", s.Name, s.Target)
		case t.Kind != catalog.Op && t.Kind != catalog.Job:
			bad("schedule %s: target %s is a %s; want an op or a job", s.Name, s.Target, t.Kind)
		case t.Kind == catalog.Op && s.Payload != "":
			bad("schedule %s: a payload is only sent to a job", s.Name)
		case t.Kind == catalog.Job && !jsonObject(s.Payload):
			bad("schedule %s: job %s needs a payload, a JSON object of its job type", s.Name, s.Target)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return fmt.Errorf("catalog: %w", errors.Join(errs...))
}

// jobConnections is the most database connections the jobs and ops hold
// at once: each environment's pool times the function's concurrency cap
// (an SQS event source runs at least its minimum; an op without a cap is
// counted once, as a schedule or a deploy starts it).
func jobConnections(fns []catalog.Function) int {
	n := 0
	for _, fn := range fns {
		if fn.Kind == catalog.Route || !slices.Contains(fn.Uses, catalog.Database) {
			continue
		}
		c := max(fn.MaxConcurrency, 1)
		if fn.Kind == catalog.Job {
			c = eventSourceMaxConcurrency(fn)
		}
		n += c * lambdaPoolConns
	}
	return n
}

func jsonObject(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "{") && json.Valid([]byte(s))
}
