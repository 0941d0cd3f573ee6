package sqsqueue

import (
	"context"
	"testing"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
)

func TestRegionOf(t *testing.T) {
	for url, want := range map[string]string{
		"https://sqs.eu-west-1.amazonaws.com/123456789012/crm-prod-email-sync": "eu-west-1",
		"https://sqs.us-gov-west-1.amazonaws.com/1/q":                          "us-gov-west-1",
		"http://127.0.0.1:4566/000000000000/q":                                 "",
		"::":                                                                   "",
	} {
		if got := regionOf(url); got != want {
			t.Errorf("regionOf(%q) = %q, want %q", url, got, want)
		}
	}
}

func TestDeadLetterURL(t *testing.T) {
	b := New(nil, Options{})
	got, err := b.deadLetterURL("email-sync", "https://sqs.eu-west-1.amazonaws.com/123456789012/crm-prod-email-sync",
		`{"deadLetterTargetArn":"arn:aws:sqs:eu-west-1:123456789012:crm-prod-email-sync-dlq","maxReceiveCount":5}`)
	if err != nil {
		t.Fatalf("dead-letter URL: %v", err)
	}
	if want := "https://sqs.eu-west-1.amazonaws.com/123456789012/crm-prod-email-sync-dlq"; got != want {
		t.Fatalf("dead-letter URL %q, want %q", got, want)
	}
	if _, err := b.deadLetterURL("enrichment", "https://sqs.eu-west-1.amazonaws.com/1/q", `{"deadLetterTargetArn":"nope"}`); err == nil {
		t.Error("a bad redrive policy was accepted")
	}
	got, err = b.deadLetterURL("ai-analysis", "https://sqs.eu-west-1.amazonaws.com/1/q", "")
	if err != nil {
		t.Errorf("no redrive policy: %v", err)
	}
	if got != "" {
		t.Errorf("no redrive policy: dead-letter URL %q, want none", got)
	}
}

func TestFromConfig(t *testing.T) {
	fn := catalog.MustLookup(catalog.ContactExtraction)
	cfg, err := config.Load(context.Background(), fn, config.WithEnv(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	if b := FromConfig(cfg); b != nil {
		t.Fatalf("backend without queue URLs: %T", b)
	}
	cfg, err = config.Load(context.Background(), fn, config.WithEnv(map[string]string{
		config.QueueURLVar(fn.Name): "https://sqs.eu-west-1.amazonaws.com/1/q",
	}))
	if err != nil {
		t.Fatal(err)
	}
	// Built without I/O: the client comes at first use.
	if _, ok := FromConfig(cfg).(*Backend); !ok {
		t.Fatal("no SQS backend with a queue URL")
	}
	if _, err := New(map[string]string{}, Options{}).Depth(context.Background(), fn.Name); err == nil {
		t.Fatal("depth of a job type without a URL")
	}
}
