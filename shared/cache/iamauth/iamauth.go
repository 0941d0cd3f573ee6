// Package iamauth signs in to ElastiCache (Valkey or Redis OSS) with IAM
// authentication: each new connection sends AUTH with the ElastiCache
// user's name and a short-lived token signed with the function's AWS
// credentials, instead of a shared AUTH token.
//
// The token is a SigV4 presigned request, never sent anywhere but to the
// cache: GET http://<cache name>/?Action=connect&User=<user id>, signed for
// the service "elasticache" in the cache's region, valid 15 minutes, with
// its leading http:// removed; for a serverless cache the request also
// names ResourceType=ServerlessCache. ElastiCache checks it against the
// caller's elasticache:Connect permission on the cache (a replicationgroup
// or serverlesscache ARN) and the user. Signing is
// local (no network I/O), but a token is reused for RefreshAfter so that a
// burst of new connections does not sign each time.
//
// ElastiCache closes a connection authenticated this way after 12 hours;
// a pool must retire its connections sooner (MaxConnLifetime).
package iamauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Lifetimes of tokens and connections.
const (
	// Expiry is how long ElastiCache accepts a token after it was signed.
	Expiry = 15 * time.Minute
	// RefreshAfter is the age at which a token is replaced: a connection
	// opened with the last use of a token still has five minutes to spare.
	RefreshAfter = 10 * time.Minute
	// MaxConnLifetime is below the 12 hours after which ElastiCache closes
	// an IAM-authenticated connection, so the pool retires it first.
	MaxConnLifetime = 11 * time.Hour
)

const (
	service = "elasticache"
	// emptyPayloadHash is the SHA-256 of an empty body: the request has none.
	emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// Config names what a token is signed for and with.
type Config struct {
	// CacheName is the replication group id or, with Serverless, the
	// serverless cache's name (CACHE_NAME), lower case.
	CacheName string
	// Serverless signs for an ElastiCache Serverless cache
	// (CACHE_MODE=serverless) instead of a replication group.
	Serverless bool
	// User is the ElastiCache user id, which for IAM authentication is
	// also its user name (CACHE_IAM_USER).
	User string
	// Region is the cache's AWS region.
	Region string
	// Credentials sign the token (the function's execution role). The
	// provider must not do network I/O to be cheap on each refresh;
	// awsenv.Credentials reads the environment.
	Credentials aws.CredentialsProvider
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Tokens hands out the current token, signing a new one when it is
// RefreshAfter old or the credentials that signed it expire. It is safe
// for concurrent use.
type Tokens struct {
	cfg    Config
	signer *v4.Signer

	mu     sync.Mutex
	token  string
	signed time.Time // when the token was signed
	until  time.Time // when it is replaced
}

// New returns the token source of cfg. Errors: a missing field.
func New(cfg Config) (*Tokens, error) {
	var missing []string
	for _, f := range []struct{ name, value string }{{"cache name", cfg.CacheName}, {"user", cfg.User}, {"region", cfg.Region}} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	if cfg.Credentials == nil {
		missing = append(missing, "credentials")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("elasticache iam auth: no %s", strings.Join(missing, ", "))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Tokens{cfg: cfg, signer: v4.NewSigner()}, nil
}

// User is the user name the token authenticates.
func (t *Tokens) User() string { return t.cfg.User }

// Credentials returns the user name and a current token, for
// cache.RedisOptions.Credentials: go-redis sends them with AUTH on each new
// connection.
func (t *Tokens) Credentials(ctx context.Context) (username, password string, err error) {
	token, err := t.Token(ctx)
	if err != nil {
		return "", "", err
	}
	return t.cfg.User, token, nil
}

// Token returns the current token, signing a new one when needed. Errors:
// credentials that cannot be retrieved, or a failed signature; neither
// carries a token or a secret key.
func (t *Tokens) Token(ctx context.Context) (string, error) {
	// The wall clock, not the monotonic one: the token's validity is
	// judged by ElastiCache against wall time, and a frozen Lambda's
	// monotonic clock need not have counted the time it was frozen.
	now := t.cfg.Now().Round(0)
	t.mu.Lock()
	defer t.mu.Unlock()
	// A clock set back before the signature also signs again.
	if t.token != "" && !now.Before(t.signed) && now.Before(t.until) {
		return t.token, nil
	}
	creds, err := t.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("elasticache iam auth: credentials: %w", err)
	}
	token, err := t.sign(ctx, creds, now)
	if err != nil {
		return "", err
	}
	until := now.Add(RefreshAfter)
	if creds.CanExpire && creds.Expires.Before(until) {
		until = creds.Expires
	}
	t.token, t.signed, t.until = token, now, until
	return token, nil
}

// sign presigns the connect request at now.
func (t *Tokens) sign(ctx context.Context, creds aws.Credentials, now time.Time) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.cfg.CacheName+"/", nil)
	if err != nil {
		return "", fmt.Errorf("elasticache iam auth: cache name %q: %w", t.cfg.CacheName, err)
	}
	q := req.URL.Query()
	q.Set("Action", "connect")
	q.Set("User", t.cfg.User)
	if t.cfg.Serverless {
		q.Set("ResourceType", "ServerlessCache")
	}
	q.Set("X-Amz-Expires", strconv.Itoa(int(Expiry/time.Second)))
	req.URL.RawQuery = q.Encode()
	signed, _, err := t.signer.PresignHTTP(ctx, creds, req, emptyPayloadHash, service, t.cfg.Region, now.UTC())
	if err != nil {
		return "", fmt.Errorf("elasticache iam auth: sign: %w", err)
	}
	token, ok := strings.CutPrefix(signed, "http://")
	if !ok {
		return "", errors.New("elasticache iam auth: the signed request is not an http:// URL")
	}
	return token, nil
}
