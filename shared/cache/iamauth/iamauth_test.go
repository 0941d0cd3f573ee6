package iamauth_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/cache/iamauth"
	"github.com/personalcrm/core/shared/testkit"
)

const (
	accessKey    = "AKIDEXAMPLE"
	secretKey    = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	sessionToken = "session/token+with=odd&chars"
	region       = "eu-west-1"
	cacheName    = "crm-prod"
	user         = "crm-prod-app"
)

var signedAt = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// countingCreds are static credentials that count their retrievals.
type countingCreds struct {
	n       atomic.Int32
	expires time.Time
}

func (c *countingCreds) Retrieve(context.Context) (aws.Credentials, error) {
	c.n.Add(1)
	return aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey, SessionToken: sessionToken,
		CanExpire: !c.expires.IsZero(), Expires: c.expires}, nil
}

func newTokens(t *testing.T, clock *testkit.Clock, creds aws.CredentialsProvider) *iamauth.Tokens {
	t.Helper()
	tok, err := iamauth.New(iamauth.Config{CacheName: cacheName, User: user, Region: region, Credentials: creds, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// The token is the presigned connect request ElastiCache checks: its
// parameters and signature are recomputed here from the SigV4
// specification, without the SDK's signer, so a token signed for another
// service, region, expiry, user, time or kind of cache fails. A serverless
// cache's token names ResourceType=ServerlessCache.
func TestTokenIsPresignedConnect(t *testing.T) {
	for _, serverless := range []bool{false, true} {
		t.Run(map[bool]string{false: "replication group", true: "serverless"}[serverless], func(t *testing.T) {
			testPresignedConnect(t, serverless)
		})
	}
}

func testPresignedConnect(t *testing.T, serverless bool) {
	tok, err := iamauth.New(iamauth.Config{CacheName: cacheName, User: user, Region: region, Credentials: &countingCreds{},
		Now: testkit.NewClock(signedAt).Now, Serverless: serverless})
	if err != nil {
		t.Fatal(err)
	}
	token, err := tok.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(token, "://") {
		t.Fatalf("token %q keeps its scheme", token)
	}
	u, err := url.Parse("http://" + token)
	if err != nil {
		t.Fatalf("token is not a URL: %v", err)
	}
	if u.Host != cacheName || u.Path != "/" {
		t.Errorf("host %q path %q, want %q and /", u.Host, u.Path, cacheName)
	}

	scope := "20260304/" + region + "/elasticache/aws4_request"
	want := map[string]string{
		"Action":               "connect",
		"User":                 user,
		"X-Amz-Algorithm":      "AWS4-HMAC-SHA256",
		"X-Amz-Credential":     accessKey + "/" + scope,
		"X-Amz-Date":           "20260304T050607Z",
		"X-Amz-Expires":        "900",
		"X-Amz-Security-Token": sessionToken,
		"X-Amz-SignedHeaders":  "host",
	}
	if serverless {
		want["ResourceType"] = "ServerlessCache"
	}
	got := map[string]string{}
	for k, v := range u.Query() {
		if len(v) != 1 {
			t.Errorf("parameter %s given %d times", k, len(v))
		}
		got[k] = v[0]
	}
	sig := got["X-Amz-Signature"]
	delete(got, "X-Amz-Signature")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parameters\n got %v\nwant %v", got, want)
	}
	if wantSig := signature(want, cacheName, scope, want["X-Amz-Date"]); sig != wantSig {
		t.Errorf("signature %q, want %q", sig, wantSig)
	}
}

// signature computes a SigV4 query signature of GET http://host/ with
// the parameters params (AWS Signature Version 4, "Create a signed
// request"): canonical request, string to sign, derived key.
func signature(params map[string]string, host, scope, amzDate string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var q []string
	for _, k := range keys {
		q = append(q, uriEncode(k)+"="+uriEncode(params[k]))
	}
	emptyHash := sha256.Sum256(nil)
	canonical := strings.Join([]string{
		"GET", "/", strings.Join(q, "&"),
		"host:" + host + "\n", "host", hex.EncodeToString(emptyHash[:]),
	}, "\n")
	ch := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(ch[:])
	key := []byte("AWS4" + secretKey)
	for _, part := range strings.Split(scope, "/") {
		key = hmacSHA256(key, part)
	}
	return hex.EncodeToString(hmacSHA256(key, toSign))
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// uriEncode escapes every byte but the unreserved characters of RFC 3986.
func uriEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func dateOf(t *testing.T, token string) string {
	t.Helper()
	u, err := url.Parse("http://" + token)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("X-Amz-Date")
}

// A token serves every new connection for RefreshAfter; then, or when
// the clock goes back, a new one is signed.
func TestTokenReusedThenRefreshed(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(signedAt)
	creds := &countingCreds{}
	tok := newTokens(t, clock, creds)
	first, err := tok.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(iamauth.RefreshAfter - time.Second)
	if again, _ := tok.Token(ctx); again != first || creds.n.Load() != 1 {
		t.Fatalf("before the refresh: new token %v, %d signatures; want the first token, 1 signature", again != first, creds.n.Load())
	}
	clock.Add(time.Second)
	second, err := tok.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second == first || creds.n.Load() != 2 || dateOf(t, second) != "20260304T051607Z" {
		t.Fatalf("after %s: same token %v, %d signatures, signed at %s; want a new one signed now",
			iamauth.RefreshAfter, second == first, creds.n.Load(), dateOf(t, second))
	}
	clock.Add(-time.Minute)
	if third, _ := tok.Token(ctx); third == second || dateOf(t, third) != "20260304T051507Z" {
		t.Fatalf("clock set back: token signed at %s, want a new one", dateOf(t, third))
	}
}

// Connections opened at once share one signature.
func TestTokenSharedByConcurrentConnections(t *testing.T) {
	creds := &countingCreds{}
	tok := newTokens(t, testkit.NewClock(signedAt), creds)
	tokens := make([]string, 8)
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Go(func() { tokens[i], _ = tok.Token(context.Background()) })
	}
	wg.Wait()
	for _, token := range tokens {
		if token == "" || token != tokens[0] {
			t.Fatal("concurrent callers got different or no tokens")
		}
	}
	if creds.n.Load() != 1 {
		t.Fatalf("%d signatures for concurrent callers, want 1", creds.n.Load())
	}
}

// Credentials that expire before the refresh are used only until then.
func TestTokenRefreshedWithExpiringCredentials(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(signedAt)
	creds := &countingCreds{expires: signedAt.Add(3 * time.Minute)}
	tok := newTokens(t, clock, creds)
	first, _ := tok.Token(ctx)
	clock.Add(3 * time.Minute)
	if second, _ := tok.Token(ctx); second == first || creds.n.Load() != 2 {
		t.Fatalf("credentials expired: same token %v, %d signatures", second == first, creds.n.Load())
	}
}

func TestNewAndErrors(t *testing.T) {
	_, err := iamauth.New(iamauth.Config{Region: region})
	if err == nil || !strings.Contains(err.Error(), "cache name, user, credentials") {
		t.Errorf("missing fields: %v", err)
	}
	failing := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{}, errors.New("no AWS credentials")
	})
	tok := newTokens(t, testkit.NewClock(signedAt), failing)
	if u, p, err := tok.Credentials(context.Background()); err == nil || u != "" || p != "" {
		t.Errorf("failing credentials: %q %q %v", u, p, err)
	}
	if tok.User() != user {
		t.Errorf("user %q", tok.User())
	}
}

// A Valkey/Redis server whose ACL user has the token as its password, and
// the project's access string, lets a Cache authenticated through go-redis
// with the user's name and the token do everything it does; a client
// without the token is refused, and so is a command or key the access
// string does not grant.
func TestCacheAuthenticatesWithToken(t *testing.T) {
	ctx := context.Background()
	srv := testkit.StartRedis(t)
	tok := newTokens(t, testkit.NewClock(signedAt), &countingCreds{})
	token, err := tok.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}

	admin, err := cache.NewRedis(srv.URL(), cache.RedisOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	args := []any{"ACL", "SETUSER", user, "reset", ">" + token}
	for _, f := range strings.Fields(cache.AccessString) {
		args = append(args, f)
	}
	if err := admin.Client().Do(ctx, args...).Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	if err := admin.Client().Do(ctx, "ACL", "SETUSER", "default", "off").Err(); err != nil {
		t.Fatal(err)
	}
	admin.Close()

	open := func(creds func(context.Context) (string, string, error)) *cache.Redis {
		b, err := cache.NewRedis(srv.URL(), cache.RedisOptions{Credentials: creds, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}

	b := open(tok.Credentials)
	c := cache.New(b, cache.Options{Timeout: 5 * time.Second})
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping with the token: %v", err)
	}
	loads := 0
	load := func(context.Context) (string, error) { loads++; return "ada", nil }
	scope := cache.Scope{Name: "contacts", Owner: "u1"}
	// The first read creates the scope's version, the second stores the
	// entry, the third is a hit.
	for range 3 {
		v, err := cache.GetOrLoad(ctx, c, scope, "k", time.Minute, load)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if v != "ada" {
			t.Fatalf("get: %q, want ada", v)
		}
	}
	if loads != 2 {
		t.Fatalf("%d loads for three reads: the third was not a hit", loads)
	}
	c.Invalidate(ctx, scope)
	c.Delete(ctx, scope, "k")
	cache.GetOrLoad(ctx, c, scope, "k", time.Minute, load)
	if loads != 3 {
		t.Fatalf("%d loads: the invalidation did not reach the server", loads)
	}
	if d, err := c.Allow(ctx, "route:u:u1", cache.Rate{Requests: 10, Per: time.Minute, Burst: 2}); err != nil {
		t.Fatalf("rate limit script: %v", err)
	} else if !d.Allowed {
		t.Fatalf("rate limit script: %+v, want allowed", d)
	}
	if !c.Available() {
		t.Fatal("the cache failed an operation")
	}
	if err := b.Client().FlushAll(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("FLUSHALL: %v, want NOPERM", err)
	}
	if err := b.Client().Get(ctx, "other:key").Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("GET of a key outside the prefix: %v, want NOPERM", err)
	}

	later := newTokens(t, testkit.NewClock(signedAt.Add(time.Minute)), &countingCreds{})
	if err := open(later.Credentials).Ping(ctx); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Errorf("a token signed at another time: %v, want WRONGPASS", err)
	}
	if err := open(nil).Ping(ctx); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("no credentials: %v, want NOAUTH", err)
	}
}
