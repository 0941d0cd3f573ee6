package config_test

import (
	"context"
	"testing"

	"github.com/personalcrm/core/shared/config"
)

// BenchmarkLoad measures what a cold start spends reading its
// configuration: a complete production environment with queue URLs.
func BenchmarkLoad(b *testing.B) {
	env := with(production(), "QUEUE_URL_EMAIL_SYNC", "https://sqs.eu-west-1.amazonaws.com/123456789012/crm-prod-email-sync",
		"CORS_ORIGINS", "https://admin.example.com", "EXTRACT_IGNORE", "*@news.example.com")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := config.Load(ctx, allFn, config.WithEnv(env)); err != nil {
			b.Fatal(err)
		}
	}
}
