package db_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
	"github.com/personalcrm/core/shared/testkit"
)

var lambdaCreds = credentials.NewStaticCredentialsProvider("AKIDLAMBDA", "secret-key", "session-token")

// The token is a presigned rds-db:connect URL for the connection's host,
// port and user, signed for the region: what RDS Proxy checks.
func TestIAMAuthSetsAPresignedToken(t *testing.T) {
	cc, err := pgx.ParseConfig("postgres://crm@crm-prod.proxy-abc.eu-west-1.rds.amazonaws.com:5432/crm?sslmode=verify-full")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.IAMAuth("eu-west-1", lambdaCreds)(context.Background(), cc); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse("https://" + cc.Password)
	if err != nil {
		t.Fatalf("token %q is not a URL: %v", cc.Password, err)
	}
	q := u.Query()
	want := map[string]string{
		"Action":               "connect",
		"DBUser":               "crm",
		"X-Amz-Algorithm":      "AWS4-HMAC-SHA256",
		"X-Amz-Expires":        "900",
		"X-Amz-SignedHeaders":  "host",
		"X-Amz-Security-Token": "session-token",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("token %s = %q, want %q", k, q.Get(k), v)
		}
	}
	if u.Host != "crm-prod.proxy-abc.eu-west-1.rds.amazonaws.com:5432" || strings.HasPrefix(cc.Password, "https://") {
		t.Errorf("token host %q (token %q)", u.Host, cc.Password)
	}
	if !regexp.MustCompile(`^AKIDLAMBDA/\d{8}/eu-west-1/rds-db/aws4_request$`).MatchString(q.Get("X-Amz-Credential")) {
		t.Errorf("credential scope %q", q.Get("X-Amz-Credential"))
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(q.Get("X-Amz-Signature")) {
		t.Errorf("signature %q", q.Get("X-Amz-Signature"))
	}
}

func TestIAMAuthRefusesPlainText(t *testing.T) {
	for _, mode := range []string{"disable", "allow", "prefer"} {
		cc, err := pgx.ParseConfig("postgres://crm@proxy.example.com:5432/crm?sslmode=" + mode)
		if err != nil {
			t.Fatal(err)
		}
		err = db.IAMAuth("eu-west-1", lambdaCreds)(context.Background(), cc)
		if err == nil || !strings.Contains(err.Error(), "TLS") || cc.Password != "" {
			t.Errorf("sslmode=%s: err %v, password %q: want refused before signing", mode, err, cc.Password)
		}
	}
	cc, _ := pgx.ParseConfig("postgres://crm@proxy.example.com:5432/crm?sslmode=require")
	if err := db.IAMAuth("", lambdaCreds)(context.Background(), cc); err == nil {
		t.Error("no region: no error")
	}
	if err := db.IAMAuth("eu-west-1", aws.AnonymousCredentials{})(context.Background(), cc); err == nil && cc.Password == "" {
		t.Error("anonymous credentials: neither an error nor a token")
	}
}

// A pool opened with the hook runs it for each new connection, with TLS,
// against the local PostgreSQL (which trusts local connections, so the
// token itself is not checked here).
func TestPoolUsesIAMTokenForEachConnection(t *testing.T) {
	base := testkit.DatabaseURL(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("sslmode", "require")
	u.RawQuery = q.Encode()

	var tokens []string
	hook := db.IAMAuth("eu-west-1", lambdaCreds)
	pool, err := db.Open(context.Background(), u.String(), db.Options{Mode: db.Lambda, BeforeConnect: func(ctx context.Context, cc *pgx.ConnConfig) error {
		if err := hook(ctx, cc); err != nil {
			return err
		}
		tokens = append(tokens, cc.Password)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var ssl bool
	if err := pool.QueryRow(context.Background(), "select ssl from pg_stat_ssl where pid = pg_backend_pid()").Scan(&ssl); err != nil {
		if strings.Contains(err.Error(), "server refused TLS") {
			t.Skip("the local PostgreSQL does not offer TLS")
		}
		t.Fatal(err)
	}
	if !ssl || len(tokens) != 1 || !strings.Contains(tokens[0], "Action=connect") {
		t.Fatalf("ssl %v, tokens %q: want one connection over TLS with a token", ssl, tokens)
	}
}
