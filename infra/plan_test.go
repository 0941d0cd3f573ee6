package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/db"
)

// These tests need no synthesis.

func TestRealCatalogIsValid(t *testing.T) {
	if err := validate(catalog.All(), catalog.Schedules()); err != nil {
		t.Fatal(err)
	}
	fns, scheds := fixtureCatalog()
	if err := validate(fns, scheds); err != nil {
		t.Fatal(err)
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	job := catalog.Function{Name: "email-sync", Kind: catalog.Job, MemoryMB: 256, Timeout: time.Minute, MaxAttempts: 3, BatchSize: 10}
	route := catalog.Function{Name: "contacts-get", Kind: catalog.Route, Method: "GET", Path: "/v1/contacts/{id}", MemoryMB: 256, Timeout: 10 * time.Second}
	tests := []struct {
		name   string
		fns    []catalog.Function
		scheds []catalog.Schedule
		want   []string
	}{
		{"enqueues a job that is not there", []catalog.Function{withEnqueues(route, "nope")}, nil,
			[]string{`contacts-get: enqueues "nope", which is not a job`}},
		{"enqueues a route", []catalog.Function{withEnqueues(route, "contacts-get")}, nil,
			[]string{`enqueues "contacts-get", which is not a job`}},
		{"duplicate route", []catalog.Function{route, withName(route, "contacts-get-2")}, nil,
			[]string{"GET /v1/contacts/{id} is also route contacts-get"}},
		{"timeout beyond Lambda", []catalog.Function{withTimeout(route, 20*time.Minute)}, nil,
			[]string{"timeout 20m0s is outside Lambda's"}},
		{"route slower than the API waits", []catalog.Function{withTimeout(route, time.Minute)}, nil,
			[]string{"timeout 1m0s is above the HTTP API's 30s"}},
		{"resource nobody provides", []catalog.Function{withUses(route, "s3")}, nil,
			[]string{`uses "s3", which the infrastructure does not provide`}},
		{"job without attempts", []catalog.Function{withAttempts(job, 0)}, nil,
			[]string{"max attempts must be at least 1"}},
		{"schedule of a missing target", []catalog.Function{job},
			[]catalog.Schedule{{Name: "s", Every: time.Hour, Target: "gone"}},
			[]string{`target "gone" is not in the catalog`}},
		{"schedule of a route", []catalog.Function{route},
			[]catalog.Schedule{{Name: "s", Every: time.Hour, Target: "contacts-get"}},
			[]string{"target contacts-get is a route"}},
		{"schedule not in minutes", []catalog.Function{job},
			[]catalog.Schedule{{Name: "s", Every: 90 * time.Second, Target: "email-sync"}},
			[]string{"period 1m30s is not a whole number of minutes"}},
		{"database job without a cap", []catalog.Function{withUses(job, catalog.Database)}, nil,
			[]string{"job email-sync: uses the database without a max concurrency"}},
		{"over the connection budget", []catalog.Function{withConcurrency(withUses(job, catalog.Database), 31)}, nil,
			[]string{"up to 62 database connections at their concurrency caps; the budget is 60"}},
		{"all at once", []catalog.Function{withEnqueues(route, "nope"), withAttempts(job, 0)},
			[]catalog.Schedule{{Name: "s", Every: time.Hour, Target: "gone"}},
			[]string{"nope", "max attempts", "gone"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := validate(tc.fns, tc.scheds)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func withName(f catalog.Function, n string) catalog.Function { f.Name = n; return f }
func withEnqueues(f catalog.Function, j ...string) catalog.Function {
	f.Enqueues = j
	return f
}
func withUses(f catalog.Function, r ...catalog.Resource) catalog.Function {
	f.Uses = r
	return f
}
func withTimeout(f catalog.Function, d time.Duration) catalog.Function { f.Timeout = d; return f }
func withAttempts(f catalog.Function, n int) catalog.Function          { f.MaxAttempts = n; return f }
func withConcurrency(f catalog.Function, n int) catalog.Function       { f.MaxConcurrency = n; return f }

// TestConnectionBudget keeps the budget's pool size equal to the one
// shared/db opens in a Lambda, and shows the real catalog's jobs and ops
// within it.
func TestConnectionBudget(t *testing.T) {
	pool, err := db.Open(context.Background(), "postgres://u@127.0.0.1:1/x", db.Options{Mode: db.Lambda})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if got := pool.Config().MaxConns; got != lambdaPoolConns {
		t.Errorf("shared/db opens %d connections in a Lambda; lambdaPoolConns is %d", got, lambdaPoolConns)
	}
	n := jobConnections(catalog.All())
	t.Logf("jobs and ops hold up to %d of %d connections", n, jobConnectionBudget)
	if n == 0 || n > jobConnectionBudget {
		t.Errorf("jobConnections = %d; want within 1-%d", n, jobConnectionBudget)
	}
}

func TestRateExpression(t *testing.T) {
	for every, want := range map[time.Duration]string{
		time.Minute:      "rate(1 minute)",
		15 * time.Minute: "rate(15 minutes)",
		time.Hour:        "rate(1 hour)",
		90 * time.Minute: "rate(90 minutes)",
		6 * time.Hour:    "rate(6 hours)",
		24 * time.Hour:   "rate(1 day)",
		48 * time.Hour:   "rate(2 days)",
	} {
		got, err := rateExpression(every)
		if err != nil || got != want {
			t.Errorf("rateExpression(%s) = %q, %v; want %q", every, got, err, want)
		}
	}
	for _, bad := range []time.Duration{0, 30 * time.Second, 61 * time.Second} {
		if _, err := rateExpression(bad); err == nil {
			t.Errorf("rateExpression(%s): no error", bad)
		}
	}
}

func TestQueuesOf(t *testing.T) {
	jobs := []string{"ai-analysis", "contact-extraction", "email-sync"}
	for _, tc := range []struct {
		name string
		fn   catalog.Function
		want []string
	}{
		{"route", catalog.Function{Kind: catalog.Route}, nil},
		{"producer", catalog.Function{Kind: catalog.Route, Enqueues: []string{"email-sync"}}, []string{"email-sync"}},
		{"job, its own and its producer's", catalog.Function{Name: "email-sync", Kind: catalog.Job, Enqueues: []string{"contact-extraction"}},
			[]string{"contact-extraction", "email-sync"}},
		{"queue stats", catalog.Function{Kind: catalog.Route, Uses: []catalog.Resource{catalog.QueueStats}}, jobs},
	} {
		if d := cmp.Diff(tc.want, queuesOf(tc.fn, jobs)); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}
}

func TestValidateScheduledJobPayload(t *testing.T) {
	job := catalog.Function{Name: "email-sync", Kind: catalog.Job, MemoryMB: 256, Timeout: time.Minute, MaxAttempts: 3, BatchSize: 10}
	for _, payload := range []string{"", "null", "[1]", "{"} {
		err := validate([]catalog.Function{job}, []catalog.Schedule{{Name: "s", Every: time.Hour, Target: "email-sync", Payload: payload}})
		if err == nil || !strings.Contains(err.Error(), "needs a payload") {
			t.Errorf("payload %q: %v", payload, err)
		}
	}
}

func TestSettingsFor(t *testing.T) {
	dev, err := settingsFor(Context{Stage: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if dev.AppURL != "" || dev.GoogleClientID != placeholderGoogleClientID || len(dev.Features) != 0 {
		t.Errorf("dev defaults: %+v", dev)
	}
	prod, err := settingsFor(Context{Stage: "prod", AppURL: "https://app.example.com/", GoogleClientID: "id.apps.googleusercontent.com",
		AlarmEmail: "ops@example.com", Features: "webhooks, ai-agents", SecretsRevision: "3",
		GooglePubSubTopic:        "projects/crm-prod-project/topics/gmail-push",
		GooglePushServiceAccount: "gmail-push@crm-prod-project.iam.gserviceaccount.com",
		GooglePubSubSubscription: "projects/crm-prod-project/subscriptions/gmail-push"})
	if err != nil {
		t.Fatal(err)
	}
	if prod.AppURL != "https://app.example.com/" || prod.GoogleClientID != "id.apps.googleusercontent.com" ||
		prod.AlarmEmail != "ops@example.com" || prod.SecretsRevision != "3" ||
		prod.GooglePubSubTopic != "projects/crm-prod-project/topics/gmail-push" ||
		prod.GooglePushServiceAccount != "gmail-push@crm-prod-project.iam.gserviceaccount.com" ||
		prod.GooglePubSubSubscription != "projects/crm-prod-project/subscriptions/gmail-push" {
		t.Errorf("prod: %+v", prod)
	}
	if d := cmp.Diff([]string{"FEATURE_AI_AGENTS", "FEATURE_WEBHOOKS"}, prod.Features); d != "" {
		t.Errorf("features (-want +got):\n%s", d)
	}

	_, err = settingsFor(Context{Stage: "prod"})
	for _, want := range []string{"appUrl is required", "googleClientId is required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("prod without context: %v, want %q", err, want)
		}
	}
	_, err = settingsFor(Context{Stage: "dev", AppURL: "http://app.example.com", Features: "teleport", AlarmEmail: "ops"})
	for _, want := range []string{"must be an absolute https URL", `unknown feature "teleport"`, "not an email address"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad context: %v, want %q", err, want)
		}
	}
	// Gmail push: the webhooks gate needs the push subscription, whose two
	// settings go together and are well formed.
	for ctx, want := range map[Context]string{
		{Stage: "dev", Features: "webhooks"}:                                                                                  "the webhooks feature needs the push subscription",
		{Stage: "dev", GooglePushServiceAccount: "push@p.iam.gserviceaccount.com"}:                                            "go together",
		{Stage: "dev", GooglePushServiceAccount: "push", GooglePubSubSubscription: "projects/crm-project/subscriptions/push"}: "not a service account",
		{Stage: "dev", GooglePushServiceAccount: "push@p.iam.gserviceaccount.com", GooglePubSubSubscription: "gmail-push"}:    "projects/<project>/subscriptions/",
	} {
		if _, err := settingsFor(ctx); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", ctx, err, want)
		}
	}
	if _, err := settingsFor(Context{Stage: "staging"}); err == nil {
		t.Error("unknown stage accepted")
	}
}

func TestJobSettings(t *testing.T) {
	j := catalog.Function{Kind: catalog.Job, Timeout: 1500 * time.Millisecond, BatchSize: 10}
	if got := visibilityTimeout(j); got != 12*time.Second {
		t.Errorf("visibility of a 1.5s job = %s, want 6 x 2s", got)
	}
	j.BatchSize = 50
	if got := visibilityTimeout(j); got != 13*time.Second {
		t.Errorf("visibility with a batching window = %s, want 12s + 1s", got)
	}
	for n, want := range map[int]int{0: 0, 1: 2, 2: 2, 7: 7} {
		j.MaxConcurrency = n
		if got := eventSourceMaxConcurrency(j); got != want {
			t.Errorf("event source concurrency for %d = %d, want %d", n, got, want)
		}
	}
}

func TestCheckAssets(t *testing.T) {
	root := t.TempDir()
	fns := []catalog.Function{{Name: "a"}, {Name: "b"}}
	if err := os.MkdirAll(filepath.Join(root, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "a", "bootstrap"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	err := checkAssets(root, fns)
	if err == nil || !strings.Contains(err.Error(), "b") || strings.Contains(err.Error(), "a,") {
		t.Errorf("checkAssets = %v, want b missing", err)
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := repoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "infra", "main.go")); err != nil {
		t.Errorf("root %s has no infra/main.go", root)
	}
	if _, err := repoRoot(t.TempDir()); err == nil {
		t.Error("found a root where there is none")
	}
}

// AUTH_SECRET, from which the key of cached session entries derives, goes
// to sign-in and to the signed routes that cache sessions, never to a
// function that merely uses the cache: public /health can write the cache
// but cannot make a session entry the session code accepts.
func TestAuthSecretForSessionCachingRoutesOnly(t *testing.T) {
	has := func(fn catalog.Function) bool {
		for _, s := range secretsOf(fn) {
			if s.Var == config.VarAuthSecret {
				return true
			}
		}
		return false
	}
	for _, fn := range catalog.All() {
		if want := fn.Needs(catalog.Google) || fn.CachesSessions(); has(fn) != want {
			t.Errorf("%s: given AUTH_SECRET %v, want %v", fn.Name, has(fn), want)
		}
	}
	health, list := catalog.MustLookup(catalog.Health), catalog.MustLookup(catalog.ContactsList)
	if !health.Needs(catalog.Cache) || has(health) {
		t.Errorf("health uses the cache %v, has AUTH_SECRET %v; want true, false", health.Needs(catalog.Cache), has(health))
	}
	if !has(list) {
		t.Error("contacts-list resolves sessions through the cache without AUTH_SECRET")
	}
}
