package config_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/logging"
)

var (
	dbFn     = catalog.Function{Name: "db-fn", Uses: []catalog.Resource{catalog.Database}}
	googleFn = catalog.Function{Name: "google-fn", Uses: []catalog.Resource{catalog.Database, catalog.Google, catalog.TokenKeys}}
	allFn    = catalog.Function{Name: "all-fn", Uses: []catalog.Resource{catalog.Database, catalog.Cache, catalog.Google, catalog.TokenKeys, catalog.OpenAI}}
)

const (
	key32  = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes
	key32b = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="
)

// production is a complete, valid production environment for allFn.
func production() map[string]string {
	return map[string]string{
		"APP_ENV":              "production",
		"LOG_LEVEL":            "warn",
		"DATABASE_URL":         "postgres://app@proxy.example.com:5432/crm?sslmode=verify-full",
		"DATABASE_IAM_AUTH":    "true",
		"REDIS_URL":            "rediss://cache.example.com:6379",
		"CACHE_IAM_USER":       "crm-prod-app",
		"CACHE_NAME":           "crm-prod",
		"AUTH_URL":             "https://api.example.com",
		"AUTH_SECRET":          strings.Repeat("s", 40),
		"GOOGLE_CLIENT_ID":     "id.apps.googleusercontent.com",
		"GOOGLE_CLIENT_SECRET": "google-secret",
		"TOKEN_KEYS":           "k2:" + key32 + ",k1:" + key32b,
		"AUTH_REDIRECT_URL":    "https://app.example.com/",
		"OPENAI_API_KEY":       "sk-test",
	}
}

func with(base map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "<unset>" {
			delete(out, kv[i])
			continue
		}
		out[kv[i]] = kv[i+1]
	}
	return out
}

func problems(t *testing.T, err error) map[string]string {
	t.Helper()
	if err == nil {
		return nil
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error is %T, want *config.Error: %v", err, err)
	}
	out := map[string]string{}
	for _, p := range ce.Problems {
		out[p.Var] = p.Message
	}
	return out
}

func TestLoadProductionValid(t *testing.T) {
	cfg, err := config.Load(context.Background(), allFn, config.WithEnv(production()))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Env != config.Production {
		t.Fatalf("Env = %q, want %q", cfg.Env, config.Production)
	}
	if !cfg.DatabaseIAMAuth {
		t.Fatalf("DatabaseIAMAuth off, want on")
	}
	if !cfg.CacheIAMAuth() {
		t.Fatalf("CacheIAMAuth() false, want true")
	}
	if cfg.CacheIAMUser != "crm-prod-app" {
		t.Fatalf("CacheIAMUser = %q, want crm-prod-app", cfg.CacheIAMUser)
	}
	if cfg.CacheName != "crm-prod" {
		t.Fatalf("CacheName = %q, want crm-prod", cfg.CacheName)
	}
	if cfg.AuthURL.Host != "api.example.com" {
		t.Fatalf("AuthURL host %q, want api.example.com", cfg.AuthURL.Host)
	}
	if cfg.GoogleClientSecret.Reveal() != "google-secret" {
		t.Fatalf("GoogleClientSecret is not the value given")
	}
	if s := fmt.Sprintf("%v %+v", cfg, cfg); strings.Contains(s, "google-secret") || strings.Contains(s, "sk-test") {
		t.Fatalf("formatted config leaks a secret: %s", s)
	}
}

func TestLoadPubSubTopic(t *testing.T) {
	for _, topic := range []string{"projects/my-project/topics/gmail-push", "projects/example.com:crm-prod/topics/Gmail.Push_1"} {
		cfg, err := config.Load(context.Background(), dbFn, config.WithEnv(with(production(), "GOOGLE_PUBSUB_TOPIC", topic)))
		if err != nil {
			t.Fatalf("%s: %v", topic, err)
		}
		if cfg.GooglePubSubTopic != topic {
			t.Fatalf("topic %q, want %q", cfg.GooglePubSubTopic, topic)
		}
	}
}

func TestLoadDevelopmentDefaults(t *testing.T) {
	cfg, err := config.Load(context.Background(), allFn, config.WithEnv(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Env != config.Development {
		t.Fatalf("Env = %q, want %q", cfg.Env, config.Development)
	}
	if cfg.Port != 3000 {
		t.Fatalf("Port = %d, want 3000", cfg.Port)
	}
	if cfg.Host != "127.0.0.1" {
		t.Fatalf("Host = %q, want 127.0.0.1", cfg.Host)
	}
	if cfg.DatabaseURL == "" {
		t.Fatalf("DatabaseURL empty, want the development default")
	}
	if cfg.AuthURL == nil {
		t.Fatalf("AuthURL unset, want the development default")
	}
	if cfg.RedisURL != "" {
		t.Fatalf("RedisURL set, want none (the in-memory cache)")
	}
	if cfg.CacheTimeout != config.DefaultCacheTimeout {
		t.Fatalf("cache timeout %v, want the default %v", cfg.CacheTimeout, config.DefaultCacheTimeout)
	}
	if cfg.OpenAIModel != config.DefaultOpenAIModel || cfg.OpenAIAPIKey != "" {
		t.Fatalf("OpenAI model %q, key set %v: want the default model and no key", cfg.OpenAIModel, cfg.OpenAIAPIKey != "")
	}
}

// Sessions live at most 30 days unless SESSION_MAX_AGE says otherwise.
func TestLoadSessionMaxAge(t *testing.T) {
	cfg, err := config.Load(context.Background(), allFn, config.WithEnv(production()))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SessionMaxAge != 30*24*time.Hour || config.DefaultSessionMaxAge != 30*24*time.Hour {
		t.Fatalf("session max age %v (default %v), want 30 days", cfg.SessionMaxAge, config.DefaultSessionMaxAge)
	}
	cfg, err = config.Load(context.Background(), allFn, config.WithEnv(with(production(), "SESSION_MAX_AGE", "168h")))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SessionMaxAge != 7*24*time.Hour {
		t.Fatalf("session max age %v, want 168h", cfg.SessionMaxAge)
	}
}

func TestLoadCacheTimeout(t *testing.T) {
	cfg, err := config.Load(context.Background(), allFn, config.WithEnv(with(production(), "CACHE_TIMEOUT", "250ms")))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CacheTimeout != 250*time.Millisecond {
		t.Fatalf("cache timeout %v, want 250ms", cfg.CacheTimeout)
	}
}

func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name string
		fn   catalog.Function
		env  map[string]string
		want map[string]string // variable -> substring of message
	}{
		{"unknown env", dbFn, with(production(), "APP_ENV", "staging"), map[string]string{"APP_ENV": "development, test or production"}},
		{"bad log level", dbFn, with(production(), "LOG_LEVEL", "loud"), map[string]string{"LOG_LEVEL": "debug, info, warn or error"}},
		{"bad port", dbFn, with(production(), "PORT", "seventy"), map[string]string{"PORT": "whole number"}},
		{"port out of range", dbFn, with(production(), "PORT", "70000"), map[string]string{"PORT": "between 1 and 65535"}},
		{"missing database", dbFn, with(production(), "DATABASE_URL", "<unset>"), map[string]string{"DATABASE_URL": "required"}},
		{"database not postgres", dbFn, with(production(), "DATABASE_URL", "mysql://x/y"), map[string]string{"DATABASE_URL": "postgres://"}},
		{"database without TLS in production", dbFn, with(production(), "DATABASE_URL", "postgres://h/db?sslmode=disable"), map[string]string{"DATABASE_URL": "sslmode"}},
		{"bad bool", dbFn, with(production(), "DATABASE_IAM_AUTH", "maybe"), map[string]string{"DATABASE_IAM_AUTH": "boolean"}},
		{"redis scheme", dbFn, with(production(), "REDIS_URL", "http://cache"), map[string]string{"REDIS_URL": "redis://"}},
		{"redis without TLS in production", dbFn, with(production(), "REDIS_URL", "redis://cache:6379"), map[string]string{"REDIS_URL": "TLS"}},
		{"cache timeout not a duration", dbFn, with(production(), "CACHE_TIMEOUT", "fast"), map[string]string{"CACHE_TIMEOUT": "duration"}},
		{"cache timeout too long", dbFn, with(production(), "CACHE_TIMEOUT", "30s"), map[string]string{"CACHE_TIMEOUT": "between 1ms and 5s"}},
		{"signed route caching sessions without AUTH_SECRET", catalog.Function{Name: "signed-fn", Kind: catalog.Route, Access: catalog.Signed,
			Uses: []catalog.Resource{catalog.Database, catalog.Cache}}, with(production(), "AUTH_SECRET", "<unset>"), map[string]string{"AUTH_SECRET": "required"}},
		{"public route using the cache without AUTH_SECRET", catalog.Function{Name: "public-fn", Kind: catalog.Route, Access: catalog.Public,
			Uses: []catalog.Resource{catalog.Database, catalog.Cache}}, with(production(), "AUTH_SECRET", "<unset>"), nil},
		{"session max age not a duration", dbFn, with(production(), "SESSION_MAX_AGE", "a month"), map[string]string{"SESSION_MAX_AGE": "duration"}},
		{"session max age too short", dbFn, with(production(), "SESSION_MAX_AGE", "5m"), map[string]string{"SESSION_MAX_AGE": "between 1h and 8760h"}},
		{"session max age too long", dbFn, with(production(), "SESSION_MAX_AGE", "9000h"), map[string]string{"SESSION_MAX_AGE": "between 1h and 8760h"}},
		{"cache timeout zero", dbFn, with(production(), "CACHE_TIMEOUT", "0s"), map[string]string{"CACHE_TIMEOUT": "between 1ms and 5s"}},
		{"cache required in production", allFn, with(production(), "REDIS_URL", "<unset>"), map[string]string{"REDIS_URL": "required"}},
		{"cache authentication required in production", allFn, with(production(), "CACHE_IAM_USER", "<unset>", "CACHE_NAME", "<unset>"), map[string]string{"CACHE_IAM_USER": "required in production"}},
		{"cache AUTH token instead of IAM", allFn, with(production(), "CACHE_IAM_USER", "<unset>", "CACHE_NAME", "<unset>", "REDIS_PASSWORD", "auth-token"), nil},
		{"cache IAM user without cache name", allFn, with(production(), "CACHE_NAME", "<unset>"), map[string]string{"CACHE_NAME": "required with CACHE_IAM_USER"}},
		{"cache name without IAM user", allFn, with(production(), "CACHE_IAM_USER", "<unset>"), map[string]string{"CACHE_IAM_USER": "required with CACHE_NAME"}},
		{"cache IAM user with double hyphen", allFn, with(production(), "CACHE_IAM_USER", "crm--app"), map[string]string{"CACHE_IAM_USER": "ElastiCache user id"}},
		{"cache IAM user starting with a digit", allFn, with(production(), "CACHE_IAM_USER", "1app"), map[string]string{"CACHE_IAM_USER": "ElastiCache user id"}},
		{"cache name in upper case", allFn, with(production(), "CACHE_NAME", "Crm-Prod"), map[string]string{"CACHE_NAME": "replication group id"}},
		{"cache name too long", allFn, with(production(), "CACHE_NAME", "c"+strings.Repeat("x", 40)), map[string]string{"CACHE_NAME": "replication group id"}},
		{"cache mode unknown", allFn, with(production(), "CACHE_MODE", "sharded"), map[string]string{"CACHE_MODE": "node, cluster or serverless"}},
		{"cache mode serverless", allFn, with(production(), "CACHE_MODE", "serverless"), nil},
		{"cache mode cluster", allFn, with(production(), "CACHE_MODE", "cluster"), nil},
		{"cache mode serverless without TLS", dbFn, with(production(), "APP_ENV", "test", "CACHE_MODE", "serverless", "CACHE_IAM_USER", "<unset>", "CACHE_NAME", "<unset>", "REDIS_URL", "redis://cache:6379"), map[string]string{"CACHE_MODE": "rediss://"}},
		{"cache cluster on database 2", dbFn, with(production(), "APP_ENV", "test", "CACHE_MODE", "cluster", "REDIS_URL", "rediss://cache:6379/2"), map[string]string{"REDIS_URL": "database 0"}},
		{"cache node on database 2", dbFn, with(production(), "APP_ENV", "test", "REDIS_URL", "rediss://cache:6379/2"), nil},
		{"cache IAM and a password", allFn, with(production(), "REDIS_PASSWORD", "auth-token"), map[string]string{"REDIS_PASSWORD": "must be unset with CACHE_IAM_USER"}},
		{"cache IAM without TLS", dbFn, with(production(), "APP_ENV", "test", "REDIS_URL", "redis://cache:6379"), map[string]string{"CACHE_IAM_USER": "rediss://"}},
		{"cache IAM with TLS outside production", dbFn, with(production(), "APP_ENV", "test", "REDIS_URL", "rediss://cache:6379"), nil},
		{"auth url http in production", googleFn, with(production(), "AUTH_URL", "http://api.example.com"), map[string]string{"AUTH_URL": "https"}},
		{"auth url relative", googleFn, with(production(), "AUTH_URL", "/x"), map[string]string{"AUTH_URL": "absolute"}},
		{"short auth secret", googleFn, with(production(), "AUTH_SECRET", "short"), map[string]string{"AUTH_SECRET": "32"}},
		{"development auth secret in production", googleFn, with(production(), "AUTH_SECRET", "development-only-auth-secret-not-for-production"), map[string]string{"AUTH_SECRET": "development default"}},
		{"google sandbox refused in production", googleFn, with(production(), "GOOGLE_CLIENT_ID", "<unset>", "GOOGLE_CLIENT_SECRET", "<unset>"), map[string]string{"GOOGLE_CLIENT_ID": "required", "GOOGLE_CLIENT_SECRET": "required"}},
		{"google half configured", dbFn, with(production(), "GOOGLE_CLIENT_SECRET", "<unset>"), map[string]string{"GOOGLE_CLIENT_SECRET": "required when"}},
		{"token keys required", googleFn, with(production(), "TOKEN_KEYS", "<unset>"), map[string]string{"TOKEN_KEYS": "required"}},
		{"token keys not id:key", dbFn, with(production(), "TOKEN_KEYS", key32), map[string]string{"TOKEN_KEYS": "id:base64key"}},
		{"token key not 32 bytes", dbFn, with(production(), "TOKEN_KEYS", "k1:AAAA"), map[string]string{"TOKEN_KEYS": "32 bytes"}},
		{"token key ids repeated", dbFn, with(production(), "TOKEN_KEYS", "k1:"+key32+",k1:"+key32b), map[string]string{"TOKEN_KEYS": "twice"}},
		{"development token keys in production", dbFn, with(production(), "TOKEN_KEYS", "dev1:ZGV2ZWxvcG1lbnQtb25seS10b2tlbi1rZXktMzJieXQ="), map[string]string{"TOKEN_KEYS": "development default"}},
		{"development token key under another id, second in the ring", dbFn, with(production(), "TOKEN_KEYS", "k2:"+key32+",prod:ZGV2ZWxvcG1lbnQtb25seS10b2tlbi1rZXktMzJieXQ="), map[string]string{"TOKEN_KEYS": "entry 2 (\"prod\") is the development default key"}},
		{"development token key unpadded first in the ring", dbFn, with(production(), "TOKEN_KEYS", "prod:ZGV2ZWxvcG1lbnQtb25seS10b2tlbi1rZXktMzJieXQ,k1:"+key32b), map[string]string{"TOKEN_KEYS": "entry 1"}},
		{"development auth secret plus a character", googleFn, with(production(), "AUTH_SECRET", "development-only-auth-secret-not-for-production!"), map[string]string{"AUTH_SECRET": "development"}},
		{"development auth secret in upper case", googleFn, with(production(), "AUTH_SECRET", "DEVELOPMENT-ONLY-AUTH-SECRET-NOT-FOR-PRODUCTION"), map[string]string{"AUTH_SECRET": "development"}},
		{"development auth secret less its last character", googleFn, with(production(), "AUTH_SECRET", "development-only-auth-secret-not-for-productio"), map[string]string{"AUTH_SECRET": "development"}},
		{"auth secret the development token key's bytes", googleFn, with(production(), "AUTH_SECRET", "development-only-token-key-32byt"), map[string]string{"AUTH_SECRET": "development"}},
		{"google sandbox client secret in production", googleFn, with(production(), "GOOGLE_CLIENT_SECRET", config.SandboxGoogleClientSecret), map[string]string{"GOOGLE_CLIENT_SECRET": "sandbox"}},
		{"openai sandbox key with a prefix", allFn, with(production(), "OPENAI_API_KEY", "x"+config.SandboxOpenAIKey), map[string]string{"OPENAI_API_KEY": "sandbox"}},
		{"redirect url required in production", googleFn, with(production(), "AUTH_REDIRECT_URL", "<unset>"), map[string]string{"AUTH_REDIRECT_URL": "required"}},
		{"redirect url http in production", googleFn, with(production(), "AUTH_REDIRECT_URL", "http://app.example.com/"), map[string]string{"AUTH_REDIRECT_URL": "https"}},
		{"cors origin wildcard", dbFn, with(production(), "CORS_ORIGINS", "*"), map[string]string{"CORS_ORIGINS": "wildcard"}},
		{"cors origin wildcard subdomain", dbFn, with(production(), "CORS_ORIGINS", "https://*.example.com"), map[string]string{"CORS_ORIGINS": "wildcard"}},
		{"cors origin with a path", dbFn, with(production(), "CORS_ORIGINS", "https://app.example.com/app"), map[string]string{"CORS_ORIGINS": "no path"}},
		{"cors origin with a trailing slash", dbFn, with(production(), "CORS_ORIGINS", "https://app.example.com/"), map[string]string{"CORS_ORIGINS": "no path"}},
		{"cors origin with user info", dbFn, with(production(), "CORS_ORIGINS", "https://me@app.example.com"), map[string]string{"CORS_ORIGINS": "no path"}},
		{"cors origin without scheme", dbFn, with(production(), "CORS_ORIGINS", "app.example.com"), map[string]string{"CORS_ORIGINS": "origin like"}},
		{"cors origin null", dbFn, with(production(), "CORS_ORIGINS", "null"), map[string]string{"CORS_ORIGINS": "origin like"}},
		{"cors origin http in production", dbFn, with(production(), "CORS_ORIGINS", "https://a.example.com,http://b.example.com"), map[string]string{"CORS_ORIGINS": "https"}},
		{"cors origins http outside production", dbFn, with(production(), "APP_ENV", "test", "CORS_ORIGINS", "http://localhost:5173, http://127.0.0.1:5173"), nil},
		{"cors origins", dbFn, with(production(), "CORS_ORIGINS", "https://app.example.com,https://admin.example.com:8443"), nil},
		{"google sandbox url refused in production", dbFn, with(production(), "GOOGLE_SANDBOX_URL", "https://sandbox.example.com"), map[string]string{"GOOGLE_SANDBOX_URL": "development and test only"}},
		{"pubsub topic without projects", dbFn, with(production(), "GOOGLE_PUBSUB_TOPIC", "gmail-push"), map[string]string{"GOOGLE_PUBSUB_TOPIC": "projects/<project>/topics/<topic>"}},
		{"pubsub topic reserved name", dbFn, with(production(), "GOOGLE_PUBSUB_TOPIC", "projects/my-project/topics/google-push"), map[string]string{"GOOGLE_PUBSUB_TOPIC": "projects/<project>/topics/<topic>"}},
		{"pubsub topic subscription", dbFn, with(production(), "GOOGLE_PUBSUB_TOPIC", "projects/my-project/subscriptions/gmail"), map[string]string{"GOOGLE_PUBSUB_TOPIC": "projects/<project>/topics/<topic>"}},
		{"push without its service account and subscription in production", dbFn, with(production(), "GOOGLE_WEBHOOK_URL", "https://api.example.com/webhooks/gmail"),
			map[string]string{"GOOGLE_PUSH_SERVICE_ACCOUNT": "required in production", "GOOGLE_PUBSUB_SUBSCRIPTION": "required in production"}},
		{"push configured in production", dbFn, with(production(), "GOOGLE_WEBHOOK_URL", "https://api.example.com/webhooks/gmail",
			"GOOGLE_PUSH_SERVICE_ACCOUNT", "gmail-push@crm-prod.iam.gserviceaccount.com", "GOOGLE_PUBSUB_SUBSCRIPTION", "projects/crm-prod/subscriptions/gmail-push"), nil},
		{"push without a service account outside production", dbFn, with(production(), "APP_ENV", "test", "GOOGLE_WEBHOOK_URL", "https://api.example.com/webhooks/gmail"), nil},
		{"push service account not an address", dbFn, with(production(), "GOOGLE_PUSH_SERVICE_ACCOUNT", "gmail-push"), map[string]string{"GOOGLE_PUSH_SERVICE_ACCOUNT": "email address"}},
		{"push subscription a topic", dbFn, with(production(), "GOOGLE_PUBSUB_SUBSCRIPTION", "projects/crm-prod/topics/gmail-push"), map[string]string{"GOOGLE_PUBSUB_SUBSCRIPTION": "projects/<project>/subscriptions/"}},
		{"google sandbox url relative", dbFn, with(production(), "APP_ENV", "test", "GOOGLE_SANDBOX_URL", "/sandbox"), map[string]string{"GOOGLE_SANDBOX_URL": "absolute"}},
		{"openai key required in production", allFn, with(production(), "OPENAI_API_KEY", "<unset>"), map[string]string{"OPENAI_API_KEY": "required"}},
		{"openai sandbox key refused in production", allFn, with(production(), "OPENAI_API_KEY", config.SandboxOpenAIKey), map[string]string{"OPENAI_API_KEY": "sandbox"}},
		{"openai base url http in production", allFn, with(production(), "OPENAI_BASE_URL", "http://llm.example.com/v1"), map[string]string{"OPENAI_BASE_URL": "https"}},
		{"openai model empty", allFn, with(production(), "OPENAI_MODEL", ""), map[string]string{"OPENAI_MODEL": "model name"}},
		{"openai model with spaces", allFn, with(production(), "OPENAI_MODEL", "gpt 4"), map[string]string{"OPENAI_MODEL": "model name"}},
		{"openai fine-tuned model", allFn, with(production(), "OPENAI_MODEL", "ft:gpt-4o-mini-2024-07-18:acme::abc123"), nil},
		{"feature flag not a bool", dbFn, with(production(), "FEATURE_WEBHOOKS", "yes please"), map[string]string{"FEATURE_WEBHOOKS": "boolean"}},
		{"unneeded variables are not required", dbFn, with(production(), "GOOGLE_CLIENT_ID", "<unset>", "GOOGLE_CLIENT_SECRET", "<unset>", "OPENAI_API_KEY", "<unset>", "TOKEN_KEYS", "<unset>", "REDIS_URL", "<unset>"), nil},
		{"all at once", allFn, map[string]string{
			"APP_ENV": "production", "LOG_LEVEL": "loud", "DATABASE_URL": "nope", "FEATURE_AI_AGENTS": "2",
			"AUTH_URL": "ftp://x", "AUTH_SECRET": "short",
		}, map[string]string{
			"LOG_LEVEL": "", "DATABASE_URL": "", "FEATURE_AI_AGENTS": "", "AUTH_URL": "", "AUTH_SECRET": "",
			"GOOGLE_CLIENT_ID": "", "GOOGLE_CLIENT_SECRET": "", "TOKEN_KEYS": "", "OPENAI_API_KEY": "", "REDIS_URL": "", "AUTH_REDIRECT_URL": "",
			"CACHE_IAM_USER": "",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(context.Background(), tt.fn, config.WithEnv(tt.env))
			got := problems(t, err)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if cfg != nil {
				t.Fatalf("Load returned a config along with the error")
			}
			gotVars, wantVars := keys(got), keys(tt.want)
			if d := cmp.Diff(wantVars, gotVars); d != "" {
				t.Fatalf("bad variables differ (-want +got):\n%s\nerror: %v", d, err)
			}
			for v, sub := range tt.want {
				if !strings.Contains(got[v], sub) {
					t.Errorf("%s: message %q does not say %q", v, got[v], sub)
				}
				if !strings.Contains(err.Error(), v) {
					t.Errorf("error text does not name %s: %v", v, err)
				}
			}
		})
	}
}

func keys(m map[string]string) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

type fakeResolver map[string]string

func (f fakeResolver) ResolveSecret(_ context.Context, ref string) (string, error) {
	v, ok := f[ref]
	if !ok {
		return "", errors.New("AccessDeniedException")
	}
	return v, nil
}

func TestLoadResolvesSecretARNs(t *testing.T) {
	arn := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:google-AbCdEf"
	env := with(production(), "GOOGLE_CLIENT_SECRET", arn)
	cfg, err := config.Load(context.Background(), allFn, config.WithEnv(env), config.WithSecrets(fakeResolver{arn: "resolved"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GoogleClientSecret.Reveal() != "resolved" {
		t.Fatalf("secret not resolved: %q", cfg.GoogleClientSecret.Reveal())
	}

	env = with(production(), "OPENAI_API_KEY", arn+"-missing")
	_, err = config.Load(context.Background(), allFn, config.WithEnv(env), config.WithSecrets(fakeResolver{}))
	if got := problems(t, err); !strings.Contains(got["OPENAI_API_KEY"], arn+"-missing") {
		t.Fatalf("unreadable secret not reported by variable and ARN: %v", err)
	}
}

func TestLoadAuthVariables(t *testing.T) {
	dev, err := config.Load(context.Background(), googleFn, config.WithEnv(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	if dev.AuthRedirectURL.String() != "http://localhost:3000/" || dev.GoogleSandboxURL != nil || dev.TokenKeys == "" {
		t.Fatalf("development defaults: redirect %v, sandbox %v", dev.AuthRedirectURL, dev.GoogleSandboxURL)
	}
	sandbox, err := config.Load(context.Background(), googleFn, config.WithEnv(map[string]string{
		"APP_ENV": "test", "GOOGLE_SANDBOX_URL": "http://127.0.0.1:4545/google", "AUTH_REDIRECT_URL": "http://localhost:5173/signed-in",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if sandbox.GoogleSandboxURL.Host != "127.0.0.1:4545" || sandbox.AuthRedirectURL.Path != "/signed-in" {
		t.Fatalf("sandbox config: %v %v", sandbox.GoogleSandboxURL, sandbox.AuthRedirectURL)
	}
	// A Secrets Manager reference is checked once resolved, not before.
	arn := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:token-keys"
	resolved, err := config.Load(context.Background(), allFn, config.WithEnv(with(production(), "TOKEN_KEYS", arn)),
		config.WithSecrets(fakeResolver{arn: "k9:" + key32}))
	if err != nil {
		t.Fatalf("resolved token keys: %v", err)
	}
	if box, err := resolved.TokenBox(); err != nil {
		t.Fatalf("TokenBox of the resolved keys: %v", err)
	} else if got := box.Newest(); got != "k9" {
		t.Fatalf("TokenBox of the resolved keys: newest key %q, want k9", got)
	}
	if _, err := (&config.Config{}).TokenBox(); err == nil || !strings.Contains(err.Error(), "TOKEN_KEYS") {
		t.Fatalf("TokenBox without keys: %v", err)
	}
	_, err = config.Load(context.Background(), allFn, config.WithEnv(with(production(), "TOKEN_KEYS", arn)),
		config.WithSecrets(fakeResolver{arn: "k9:short"}))
	if msg := problems(t, err)["TOKEN_KEYS"]; !strings.Contains(msg, "32 bytes") || strings.Contains(err.Error(), "short") {
		t.Fatalf("bad resolved token keys: %v", err)
	}
}

// countingResolver answers every reference with its own name, counting
// calls per reference; each call waits until want calls are in flight at
// once, so sequential resolution never gets past the first.
type countingResolver struct {
	mu       sync.Mutex
	calls    map[string]int
	inFlight int
	want     int
	all      chan struct{}
}

func (c *countingResolver) ResolveSecret(ctx context.Context, ref string) (string, error) {
	c.mu.Lock()
	c.calls[ref]++
	c.inFlight++
	if c.inFlight == c.want {
		close(c.all)
	}
	c.mu.Unlock()
	select {
	case <-c.all:
	case <-time.After(10 * time.Second):
		return "", errors.New("secrets were not fetched concurrently")
	}
	return "resolved-" + ref[strings.LastIndex(ref, ":")+1:] + "-0123456789abcdef0123456789abcdef", nil
}

func TestSecretsResolvedOnceEachConcurrently(t *testing.T) {
	arn := func(name string) string { return "arn:aws:secretsmanager:eu-west-1:123456789012:secret:" + name }
	// The cache signs in with REDIS_PASSWORD here, not IAM.
	env := with(production(), "AUTH_SECRET", arn("auth"), "CACHE_IAM_USER", "<unset>", "CACHE_NAME", "<unset>")
	env["GOOGLE_CLIENT_SECRET"] = arn("google")
	env["OPENAI_API_KEY"] = arn("google") // the same secret twice: one call
	env["REDIS_PASSWORD"] = arn("cache")
	r := &countingResolver{calls: map[string]int{}, want: 3, all: make(chan struct{})}
	cfg, err := config.Load(context.Background(), allFn, config.WithEnv(env), config.WithSecrets(r))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]int{arn("auth"): 1, arn("google"): 1, arn("cache"): 1}, r.calls); d != "" {
		t.Errorf("calls per secret (-want +got):\n%s", d)
	}
	if !strings.HasPrefix(cfg.OpenAIAPIKey.Reveal(), "resolved-google-") || !strings.HasPrefix(cfg.RedisPassword.Reveal(), "resolved-cache-") ||
		!strings.HasPrefix(cfg.AuthSecret.Reveal(), "resolved-auth-") {
		t.Errorf("values: %q %q %q", cfg.OpenAIAPIKey.Reveal(), cfg.RedisPassword.Reveal(), cfg.AuthSecret.Reveal())
	}
}

// Without a resolver, an ARN is a configuration error, not a key.
func TestUnresolvedSecretARNRefused(t *testing.T) {
	arn := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:auth-AbCdEf"
	_, err := config.Load(context.Background(), allFn, config.WithEnv(with(production(), "AUTH_SECRET", arn)))
	if msg := problems(t, err)["AUTH_SECRET"]; !strings.Contains(msg, "Secrets Manager ARN") {
		t.Fatalf("AUTH_SECRET holding an ARN with no resolver: %v", err)
	}
	if !config.IsSecretRef(arn) || config.IsSecretRef("plain-value") {
		t.Error("IsSecretRef")
	}
}

// IAM authentication sends a bearer token as the password: never in plain
// text, whatever the environment.
func TestIAMAuthNeedsTLS(t *testing.T) {
	_, err := config.Load(context.Background(), dbFn, config.WithEnv(map[string]string{
		"APP_ENV": "test", "DATABASE_IAM_AUTH": "true", "DATABASE_URL": "postgres://crm@localhost:5432/crm?sslmode=prefer",
	}))
	if msg := problems(t, err)["DATABASE_IAM_AUTH"]; !strings.Contains(msg, "sslmode=require") {
		t.Fatalf("IAM auth over sslmode=prefer: %v", err)
	}
	if _, err := config.Load(context.Background(), dbFn, config.WithEnv(map[string]string{
		"APP_ENV": "test", "DATABASE_IAM_AUTH": "true", "DATABASE_URL": "postgres://crm@localhost:5432/crm?sslmode=require",
	})); err != nil {
		t.Fatal(err)
	}
}

// DATABASE_SECRET is the master user's RDS secret, for a connection that
// signs in with its password: of DATABASE_URL's user, over TLS, without
// IAM tokens; its value never appears in a problem.
func TestDatabaseSecret(t *testing.T) {
	const secret = `{"username":"app","password":"pw-3141","host":"db","port":5433,"engine":"postgres"}`
	direct := with(production(), "DATABASE_IAM_AUTH", "<unset>", "DATABASE_SECRET", secret)
	cfg, err := config.Load(context.Background(), allFn, config.WithEnv(direct))
	if err != nil {
		t.Fatal(err)
	}
	creds, ok, err := cfg.DatabaseCredentials()
	if err != nil || !ok || creds.Username != "app" || creds.Password.Reveal() != "pw-3141" {
		t.Fatalf("credentials %q/%q, %v, %v", creds.Username, creds.Password.Reveal(), ok, err)
	}
	if _, ok, err := (&config.Config{}).DatabaseCredentials(); ok || err != nil {
		t.Errorf("no secret: ok %v, err %v", ok, err)
	}

	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"with IAM auth", with(direct, "DATABASE_IAM_AUTH", "true"), "DATABASE_IAM_AUTH"},
		{"another user's", with(direct, "DATABASE_URL", "postgres://crm@db.example.com:5433/crm?sslmode=verify-full"), `user "app", DATABASE_URL names "crm"`},
		{"without TLS", with(direct, "APP_ENV", "test", "DATABASE_URL", "postgres://app@db.example.com:5433/crm?sslmode=prefer"), "sslmode=require"},
		{"not JSON", with(direct, "DATABASE_SECRET", "pw-3141"), "JSON object"},
		{"no password", with(direct, "DATABASE_SECRET", `{"username":"app"}`), "JSON object"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(context.Background(), allFn, config.WithEnv(tt.env))
			msg := problems(t, err)["DATABASE_SECRET"]
			if !strings.Contains(msg, tt.want) {
				t.Fatalf("DATABASE_SECRET problem %q, want %q (err %v)", msg, tt.want, err)
			}
			if strings.Contains(err.Error(), "pw-3141") {
				t.Fatalf("the password is in the error: %v", err)
			}
		})
	}
}

// TestAllowedOrigins: CORS_ORIGINS and the web app's origin, normalized as
// browsers send Origin, without the API's own or a repeat.
func TestAllowedOrigins(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"the web app only", production(), []string{"https://app.example.com"}},
		{"listed and the web app", with(production(), "CORS_ORIGINS", "https://Admin.Example.com:443,https://app.example.com,https://x.example.com:8443"),
			[]string{"https://admin.example.com", "https://app.example.com", "https://x.example.com:8443"}},
		{"the API's own origin is not cross-origin", with(production(), "AUTH_REDIRECT_URL", "https://api.example.com/v1/user", "CORS_ORIGINS", "https://api.example.com"), nil},
		{"local defaults", map[string]string{"APP_ENV": "development"}, nil},
		{"a frontend dev server", map[string]string{"APP_ENV": "development", "CORS_ORIGINS": "http://localhost:5173"}, []string{"http://localhost:5173"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(context.Background(), dbFn, config.WithEnv(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, cfg.AllowedOrigins()); d != "" {
				t.Fatalf("allowed origins (-want +got):\n%s", d)
			}
		})
	}
}

// A Secret prints as the placeholder whatever the verb, inside a Config
// too, and logs as it through slog and the project's logger.
func TestSecretNeverPrinted(t *testing.T) {
	const value = "the-secret-value"
	s := config.Secret(value)
	cfg := &config.Config{AuthSecret: s, TokenKeys: s}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
		if out := fmt.Sprintf(verb+" "+verb, s, *cfg); strings.Contains(out, value) || strings.Contains(out, fmt.Sprintf("%x", value)) ||
			!strings.Contains(out, "[REDACTED]") {
			t.Errorf("%s prints %s", verb, out)
		}
	}
	if config.Secret("").String() != "" {
		t.Error("an empty secret is not redacted to anything")
	}
	var buf strings.Builder
	for _, l := range []*slog.Logger{slog.New(slog.NewJSONHandler(&buf, nil)), slog.New(slog.NewTextHandler(&buf, nil)), logging.New(&buf, nil)} {
		l.Info("loaded", "value", s, slog.Group("nested", "v", s), "any", any(s))
	}
	if out := buf.String(); strings.Contains(out, value) || strings.Count(out, "[REDACTED]") != 9 {
		t.Errorf("logs: %s", out)
	}
	if b, err := json.Marshal(cfg); err != nil {
		t.Errorf("JSON: %v", err)
	} else if strings.Contains(string(b), value) {
		t.Errorf("JSON holds the secret: %s", b)
	}
}
