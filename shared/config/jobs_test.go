package config_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
)

func TestQueueURLVar(t *testing.T) {
	for kind, want := range map[string]string{
		"email-sync":         "QUEUE_URL_EMAIL_SYNC",
		"contact-extraction": "QUEUE_URL_CONTACT_EXTRACTION",
		"ai-analysis":        "QUEUE_URL_AI_ANALYSIS",
	} {
		if got := config.QueueURLVar(kind); got != want {
			t.Errorf("QueueURLVar(%q) = %q, want %q", kind, got, want)
		}
	}
}

func TestLoadJobs(t *testing.T) {
	const (
		syncURL    = "https://sqs.eu-west-1.amazonaws.com/123456789012/crm-prod-email-sync"
		extractURL = "https://sqs.eu-west-1.amazonaws.com/123456789012/crm-prod-contact-extraction"
	)
	producer := catalog.Function{Name: "producer", Uses: []catalog.Resource{catalog.Database}, Enqueues: []string{catalog.EmailSync}}
	job := catalog.MustLookup(catalog.ContactExtraction)

	t.Run("production with every needed URL", func(t *testing.T) {
		env := with(production(), "QUEUE_URL_EMAIL_SYNC", syncURL, "QUEUE_URL_CONTACT_EXTRACTION", extractURL,
			"JOBS_RETENTION_DAYS", "14", "EXTRACT_IGNORE", " *@news.example.com, Alerts@*,")
		for _, fn := range []catalog.Function{producer, job} {
			cfg, err := config.Load(context.Background(), fn, config.WithEnv(env))
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{catalog.EmailSync: syncURL, catalog.ContactExtraction: extractURL}
			if d := cmp.Diff(want, cfg.QueueURLs); d != "" {
				t.Errorf("%s: queue URLs (-want +got):\n%s", fn.Name, d)
			}
			if cfg.JobsRetentionDays != 14 {
				t.Errorf("retention %d days, want 14", cfg.JobsRetentionDays)
			}
			if d := cmp.Diff([]string{"*@news.example.com", "alerts@*"}, cfg.ExtractIgnore); d != "" {
				t.Errorf("ignore patterns (-want +got):\n%s", d)
			}
		}
	})

	t.Run("development uses the in-memory queue", func(t *testing.T) {
		cfg, err := config.Load(context.Background(), job, config.WithEnv(map[string]string{}))
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.QueueURLs) != 0 || cfg.JobsRetentionDays != 30 {
			t.Fatalf("queue URLs %v, retention %d; want none and the default 30", cfg.QueueURLs, cfg.JobsRetentionDays)
		}
	})

	tests := []struct {
		name string
		fn   catalog.Function
		env  map[string]string
		want map[string]string // variable -> substring of message
	}{
		{"producer needs the queues it sends to", producer, production(),
			map[string]string{"QUEUE_URL_EMAIL_SYNC": "required in production"}},
		{"job needs its own queue", job, production(),
			map[string]string{"QUEUE_URL_CONTACT_EXTRACTION": "required in production"}},
		{"not a URL", producer, with(production(), "QUEUE_URL_EMAIL_SYNC", "crm-prod-email-sync"),
			map[string]string{"QUEUE_URL_EMAIL_SYNC": "SQS queue URL"}},
		{"plain http in production", producer, with(production(), "QUEUE_URL_EMAIL_SYNC", "http://sqs.local/1/q"),
			map[string]string{"QUEUE_URL_EMAIL_SYNC": "https"}},
		{"misspelt job type", producer, with(production(), "QUEUE_URL_EMAIL_SYNC", syncURL, "QUEUE_URL_EMAILSYNC", syncURL),
			map[string]string{"QUEUE_URL_EMAILSYNC": "no job type"}},
		{"retention out of range", dbFn, with(production(), "JOBS_RETENTION_DAYS", "0"),
			map[string]string{"JOBS_RETENTION_DAYS": "between 1 and 3650"}},
		{"retention not a number", dbFn, with(production(), "JOBS_RETENTION_DAYS", "a month"),
			map[string]string{"JOBS_RETENTION_DAYS": "whole number"}},
		{"bad ignore pattern", dbFn, with(production(), "EXTRACT_IGNORE", "[x@y.com"),
			map[string]string{"EXTRACT_IGNORE": "not a valid pattern"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(context.Background(), tt.fn, config.WithEnv(tt.env))
			got := problems(t, err)
			if d := cmp.Diff(keys(tt.want), keys(got)); d != "" {
				t.Fatalf("bad variables differ (-want +got):\n%s\nerror: %v", d, err)
			}
			for v, sub := range tt.want {
				if !strings.Contains(got[v], sub) {
					t.Errorf("%s: message %q does not say %q", v, got[v], sub)
				}
			}
		})
	}
}

// A function that reports the queues' depths needs every queue's URL in
// production, and none outside it.
func TestQueueStatsNeedsEveryQueue(t *testing.T) {
	fn := catalog.Function{Name: "stats", Uses: []catalog.Resource{catalog.Database, catalog.QueueStats}}
	env := production()
	_, err := config.Load(context.Background(), fn, config.WithEnv(env))
	got := problems(t, err)
	for _, j := range catalog.Jobs() {
		if !strings.Contains(got[config.QueueURLVar(j.Name)], "required in production") {
			t.Errorf("%s not required: %v", config.QueueURLVar(j.Name), err)
		}
	}
	for _, j := range catalog.Jobs() {
		env[config.QueueURLVar(j.Name)] = "https://sqs.eu-west-1.amazonaws.com/123456789012/crm-prod-" + j.Name
	}
	cfg, err := config.Load(context.Background(), fn, config.WithEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.QueueURLs) != len(catalog.Jobs()) {
		t.Errorf("queue URLs %v", cfg.QueueURLs)
	}
	if _, err := config.Load(context.Background(), fn, config.WithEnv(map[string]string{"APP_ENV": "test"})); err != nil {
		t.Errorf("outside production: %v", err)
	}
}
