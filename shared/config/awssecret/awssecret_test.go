package awssecret_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/config/awssecret"
	"github.com/personalcrm/core/shared/internal/awstest"
)

// fakeSecretsManager speaks the Secrets Manager JSON protocol
// (awsJson1_1, X-Amz-Target: secretsmanager.GetSecretValue) for the
// secrets it holds, and answers ResourceNotFoundException for the rest.
type fakeSecretsManager struct {
	t       *testing.T
	secrets map[string]string

	mu    sync.Mutex
	calls map[string]int
	// barrier, when set, holds each request until that many are in
	// flight at once.
	barrier  int
	inFlight int
	all      chan struct{}
	// failures are answered, in order, before any value.
	failures []failure
}

type failure struct {
	status int
	code   string
}

func newFake(t *testing.T, secrets map[string]string) (*fakeSecretsManager, *httptest.Server) {
	f := &fakeSecretsManager{t: t, secrets: secrets, calls: map[string]int{}, all: make(chan struct{})}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeSecretsManager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if got := r.Header.Get("X-Amz-Target"); got != "secretsmanager.GetSecretValue" {
		f.t.Errorf("X-Amz-Target %q", got)
	}
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDLAMBDA/") || !strings.Contains(auth, "/eu-west-1/secretsmanager/aws4_request") {
		f.t.Errorf("request not signed with the environment's credentials for eu-west-1: %q", auth)
	}
	if r.Header.Get("X-Amz-Security-Token") != "session-token" {
		f.t.Errorf("no session token: %q", r.Header.Get("X-Amz-Security-Token"))
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("body: %v", err)
	}
	awstest.VerifySignature(f.t, r, body, awstest.Creds, "secretsmanager", "eu-west-1")
	var in struct{ SecretId string }
	if err := json.Unmarshal(body, &in); err != nil {
		f.t.Errorf("body: %v", err)
	}
	f.mu.Lock()
	f.calls[in.SecretId]++
	if len(f.failures) > 0 {
		status, code := f.failures[0].status, f.failures[0].code
		f.failures = f.failures[1:]
		f.inFlight--
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-Requestid", "req-1")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.secretsmanager#" + code, "Message": "injected"})
		return
	}
	f.inFlight++
	if f.inFlight == f.barrier {
		close(f.all)
	}
	barrier := f.barrier
	f.mu.Unlock()
	if barrier > 0 {
		select {
		case <-f.all:
		case <-time.After(10 * time.Second):
			f.t.Error("secrets were not fetched concurrently")
		}
	}

	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	val, ok := f.secrets[in.SecretId]
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{
			"__type":  "ResourceNotFoundException",
			"message": "Secrets Manager can't find the specified secret.",
		})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{
		"ARN": in.SecretId, "Name": "name", "SecretString": val, "VersionId": "v1",
		"VersionStages": []string{"AWSCURRENT"}, "CreatedDate": 1.7e9,
	})
}

func lambdaEnv(t *testing.T, endpoint string) {
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDLAMBDA")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-key")
	t.Setenv("AWS_SESSION_TOKEN", "session-token")
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint)
}

func arn(name string) string {
	return "arn:aws:secretsmanager:eu-west-1:123456789012:secret:crm-prod-" + name + "-AbCdEf"
}

var fn = catalog.Function{Name: "fn", Kind: catalog.Route, Uses: []catalog.Resource{catalog.Database, catalog.Cache, catalog.Google}}

func prodEnv() map[string]string {
	return map[string]string{
		"APP_ENV":              "production",
		"DATABASE_URL":         "postgres://crm@proxy.example.com:5432/crm?sslmode=verify-full",
		"REDIS_URL":            "rediss://cache.example.com:6379",
		"AUTH_URL":             "https://api.example.com",
		"AUTH_REDIRECT_URL":    "https://app.example.com/",
		"GOOGLE_CLIENT_ID":     "client.apps.googleusercontent.com",
		"AUTH_SECRET":          arn("auth"),
		"GOOGLE_CLIENT_SECRET": arn("google"),
		"REDIS_PASSWORD":       arn("cache"),
	}
}

func TestResolvesEachSecretOnceConcurrently(t *testing.T) {
	values := map[string]string{
		arn("auth"):   strings.Repeat("a", 64),
		arn("google"): "google-client-secret",
		arn("cache"):  "cache-token",
	}
	f, srv := newFake(t, values)
	f.barrier = 3
	lambdaEnv(t, srv.URL)

	r := awssecret.FromEnv()
	cfg, err := config.Load(context.Background(), fn, config.WithEnv(prodEnv()), config.WithSecrets(r))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AuthSecret.Reveal() != values[arn("auth")] || cfg.GoogleClientSecret.Reveal() != "google-client-secret" ||
		cfg.RedisPassword.Reveal() != "cache-token" {
		t.Fatalf("resolved %q %q %q", cfg.AuthSecret.Reveal(), cfg.GoogleClientSecret.Reveal(), cfg.RedisPassword.Reveal())
	}

	// Loaded again in the same environment: no call.
	if _, err := config.Load(context.Background(), fn, config.WithEnv(prodEnv()), config.WithSecrets(r)); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{arn("auth"), arn("google"), arn("cache")} {
		if f.calls[a] != 1 {
			t.Errorf("%s fetched %d times, want once", a, f.calls[a])
		}
	}
}

func TestUnreadableSecretNamesVariableAndARN(t *testing.T) {
	_, srv := newFake(t, map[string]string{arn("auth"): "auth-secret-value-0123456789abcdef0123", arn("cache"): "cache-token"})
	lambdaEnv(t, srv.URL)
	_, err := config.Load(context.Background(), fn, config.WithEnv(prodEnv()), config.WithSecrets(awssecret.FromEnv()))
	var cerr *config.Error
	if err == nil || !errorsAs(err, &cerr) {
		t.Fatalf("err = %v, want a config error", err)
	}
	if len(cerr.Problems) != 1 || cerr.Problems[0].Var != "GOOGLE_CLIENT_SECRET" ||
		!strings.Contains(cerr.Problems[0].Message, arn("google")) ||
		!strings.Contains(cerr.Problems[0].Message, "ResourceNotFoundException") {
		t.Fatalf("problems %+v, want GOOGLE_CLIENT_SECRET naming %s and the cause", cerr.Problems, arn("google"))
	}
	for _, v := range []string{"auth-secret-value", "cache-token"} {
		if strings.Contains(err.Error(), v) {
			t.Fatalf("error %q reveals a secret value", err)
		}
	}
}

// A failed fetch is not kept: the next cold start of the same process
// (or a retry) asks again.
func TestFailureNotCached(t *testing.T) {
	f, srv := newFake(t, map[string]string{})
	lambdaEnv(t, srv.URL)
	r := awssecret.FromEnv()
	if _, err := r.ResolveSecret(context.Background(), arn("late")); err == nil {
		t.Fatal("missing secret resolved")
	}
	f.mu.Lock()
	f.secrets[arn("late")] = "now-there"
	f.mu.Unlock()
	got, err := r.ResolveSecret(context.Background(), arn("late"))
	if err != nil {
		t.Fatalf("second try: %v", err)
	}
	if got != "now-there" {
		t.Fatalf("second try: %q, want now-there", got)
	}
}

// Without credentials the request is never sent unsigned.
func TestNoCredentials(t *testing.T) {
	f, srv := newFake(t, map[string]string{arn("auth"): "x"})
	lambdaEnv(t, srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	if _, err := awssecret.FromEnv().ResolveSecret(context.Background(), arn("auth")); err == nil ||
		!strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("err = %v, want missing credentials", err)
	}
	if len(f.calls) != 0 {
		t.Fatalf("calls without credentials: %v", f.calls)
	}
}

// Throttling and Secrets Manager's own failures are retried, up to
// Attempts in all; the error names the last failure.
func TestRetriesThrottlingAndServerErrors(t *testing.T) {
	f, srv := newFake(t, map[string]string{arn("auth"): "auth-value"})
	f.failures = []failure{{400, "ThrottlingException"}, {500, "InternalServiceError"}}
	lambdaEnv(t, srv.URL)
	got, err := awssecret.FromEnv().ResolveSecret(context.Background(), arn("auth"))
	if err != nil {
		t.Fatal(err)
	}
	if got != "auth-value" {
		t.Fatalf("got %q", got)
	}
	if f.calls[arn("auth")] != 3 {
		t.Fatalf("%d calls, want 3", f.calls[arn("auth")])
	}

	f.calls = map[string]int{}
	f.failures = []failure{{503, "ServiceUnavailable"}, {503, "ServiceUnavailable"}, {503, "ServiceUnavailable"}, {503, "ServiceUnavailable"}}
	_, err = awssecret.FromEnv().ResolveSecret(context.Background(), arn("auth"))
	if err == nil {
		t.Fatal("resolved through four failures")
	}
	if !strings.Contains(err.Error(), "ServiceUnavailable") {
		t.Fatalf("err = %v, want the last failure's code", err)
	}
	if f.calls[arn("auth")] != awssecret.Attempts {
		t.Fatalf("%d calls, want %d", f.calls[arn("auth")], awssecret.Attempts)
	}
}

// A refusal is final: no retry, and the error says why.
func TestAccessDeniedNotRetried(t *testing.T) {
	f, srv := newFake(t, map[string]string{arn("auth"): "auth-value"})
	f.failures = []failure{{400, "AccessDeniedException"}}
	lambdaEnv(t, srv.URL)
	_, err := awssecret.FromEnv().ResolveSecret(context.Background(), arn("auth"))
	if err == nil {
		t.Fatal("resolved through a refusal")
	}
	for _, want := range []string{"AccessDeniedException", "injected", "HTTP 400", "req-1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to name %q", err, want)
		}
	}
	if f.calls[arn("auth")] != 1 {
		t.Fatalf("%d calls, want 1", f.calls[arn("auth")])
	}
}

func errorsAs(err error, target **config.Error) bool { return errors.As(err, target) }
