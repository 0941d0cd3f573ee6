package platform_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/config"
	"github.com/personalcrm/core/shared/platform"
	"github.com/personalcrm/core/shared/testkit"
)

func lambdaCredentials(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDLAMBDA")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-key")
	t.Setenv("AWS_SESSION_TOKEN", "session-token")
}

// With DATABASE_IAM_AUTH the pool signs each new connection in with an
// IAM token, and the App hands the same hook to migrations.
func TestInitWiresIAMDatabaseAuth(t *testing.T) {
	t.Setenv("AWS_LAMBDA_RUNTIME_API", "")
	lambdaCredentials(t)
	u, err := url.Parse(testkit.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("sslmode", "require")
	u.RawQuery = q.Encode()
	app, err := platform.Init(context.Background(), catalog.UserGet, config.WithEnv(map[string]string{
		"APP_ENV": "test", "DATABASE_URL": u.String(), "DATABASE_IAM_AUTH": "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	hook := app.DB.Config().BeforeConnect
	if hook == nil || app.BeforeConnect == nil {
		t.Fatal("no BeforeConnect with DATABASE_IAM_AUTH=true")
	}
	cc, _ := pgx.ParseConfig(u.String())
	if err := hook(context.Background(), cc); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cc.Password, "Action=connect") || !strings.Contains(cc.Password, "X-Amz-Signature=") {
		t.Fatalf("password %q is not an IAM token", cc.Password)
	}

	plain, err := platform.Init(context.Background(), catalog.UserGet, config.WithEnv(map[string]string{
		"APP_ENV": "test", "DATABASE_URL": u.String(),
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if plain.DB.Config().BeforeConnect != nil || plain.BeforeConnect != nil {
		t.Fatal("BeforeConnect without DATABASE_IAM_AUTH")
	}
}

// Secret ARNs are resolved through Secrets Manager at init; a function
// whose variables hold none never calls it.
func TestInitResolvesSecretARNs(t *testing.T) {
	t.Setenv("AWS_LAMBDA_RUNTIME_API", "")
	lambdaCredentials(t)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var in struct{ SecretId string }
		json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		json.NewEncoder(w).Encode(map[string]any{"ARN": in.SecretId, "Name": "x", "SecretString": "resolved-redis-password"})
	}))
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", srv.URL)
	env := map[string]string{
		"APP_ENV": "test", "DATABASE_URL": testkit.DatabaseURL(t),
	}

	app, err := platform.Init(context.Background(), catalog.UserGet, config.WithEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	app.Close()
	if calls.Load() != 0 {
		t.Fatalf("%d Secrets Manager calls without a secret ARN", calls.Load())
	}

	env["REDIS_PASSWORD"] = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cache-AbCdEf"
	app, err = platform.Init(context.Background(), catalog.UserGet, config.WithEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if calls.Load() != 1 || app.Config.RedisPassword.Reveal() != "resolved-redis-password" {
		t.Fatalf("%d calls, REDIS_PASSWORD %q", calls.Load(), app.Config.RedisPassword.Reveal())
	}
}
