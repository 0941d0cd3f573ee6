// Package awssecret resolves the secret variables of shared/config that
// hold a Secrets Manager ARN, at init: one GetSecretValue per distinct ARN
// per process, the value kept for the life of the process (a Lambda
// execution environment).
//
// GetSecretValue is one signed HTTPS POST of Secrets Manager's JSON
// protocol (awsJson1_1), sent here with the SDK's SigV4 signer rather than
// the SDK's generated service client: every function reads its secrets
// this way, and the client's schema and endpoint-rule packages alone cost
// each cold start about half a millisecond of package initialisation for
// one call. Retries follow the SDK's standard mode for this call:
// throttling, 5xx and transport errors, three attempts in all.
//
// Nothing is done until a variable holds an ARN, so a function outside
// AWS does no I/O.
package awssecret

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/personalcrm/core/shared/awsenv"
)

// Timeout bounds one secret's fetch, retries included: Lambda gives the
// whole init ten seconds, and a Secrets Manager call takes tens of
// milliseconds.
const Timeout = 4 * time.Second

// Attempts is how many times a fetch is tried when Secrets Manager
// throttles, fails on its side or cannot be reached.
const Attempts = 3

// service is Secrets Manager's signing name and endpoint prefix.
const service = "secretsmanager"

// Resolver fetches secrets from Secrets Manager and keeps their values.
// It implements config.SecretResolver and is safe for concurrent use.
type Resolver struct {
	// endpoint is the base URL of Secrets Manager in a region.
	endpoint    func(region string) string
	credentials aws.CredentialsProvider
	client      *http.Client
	signer      *v4.Signer
	// backoff is the wait before attempt n+1 (n >= 1).
	backoff func(n int) time.Duration

	mu     sync.Mutex
	values map[string]*fetch
}

// fetch is one secret's value, or the fetch in progress.
type fetch struct {
	done chan struct{}
	val  string
	err  error
}

// FromEnv returns a resolver configured from the environment: the region
// is AWS_REGION, else the ARN's; credentials the execution role's;
// AWS_ENDPOINT_URL_SECRETS_MANAGER or AWS_ENDPOINT_URL replace the
// endpoint.
func FromEnv() *Resolver {
	return &Resolver{
		endpoint:    endpoint,
		credentials: awsenv.Credentials(),
		client:      http.DefaultClient,
		signer:      v4.NewSigner(),
		backoff:     backoff,
		values:      map[string]*fetch{},
	}
}

// endpoint is the override in the environment, else the regional
// endpoint the SDK resolves for Secrets Manager.
func endpoint(region string) string {
	if e := awsenv.Endpoint("Secrets Manager"); e != nil {
		return *e
	}
	suffix := "amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		suffix = "amazonaws.com.cn"
	}
	return "https://" + service + "." + region + "." + suffix
}

// backoff is the SDK standard retryer's: full jitter over an exponential
// base of 50 ms, capped at 20 s (never reached in three attempts).
func backoff(n int) time.Duration {
	ceiling := min(50*time.Millisecond<<(n-1), 20*time.Second)
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// ResolveSecret returns the string value of the secret arn. A value is
// fetched once; callers asking for it meanwhile wait for that fetch. A
// failed fetch is not kept, so a later call tries again. Errors never
// contain a secret's value.
func (r *Resolver) ResolveSecret(ctx context.Context, arn string) (string, error) {
	r.mu.Lock()
	f, ok := r.values[arn]
	if !ok {
		f = &fetch{done: make(chan struct{})}
		r.values[arn] = f
		r.mu.Unlock()
		f.val, f.err = r.get(ctx, arn)
		if f.err != nil {
			r.mu.Lock()
			delete(r.values, arn)
			r.mu.Unlock()
		}
		close(f.done)
		return f.val, f.err
	}
	r.mu.Unlock()
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// getSecretValueOutput is the part of GetSecretValue's answer used here.
type getSecretValueOutput struct {
	SecretString *string
	VersionId    string
}

func (r *Resolver) get(ctx context.Context, arn string) (string, error) {
	region := awsenv.Region()
	if region == "" {
		region = regionOf(arn)
	}
	if region == "" {
		return "", awsenv.ErrNoRegion
	}
	body, err := json.Marshal(struct{ SecretId string }{arn})
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()

	var out getSecretValueOutput
	for n := 1; ; n++ {
		retry, err := r.call(ctx, region, body, &out)
		if err == nil {
			break
		}
		if !retry || n == Attempts {
			return "", err
		}
		t := time.NewTimer(r.backoff(n))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return "", fmt.Errorf("%w (after %v)", ctx.Err(), err)
		}
	}
	if out.SecretString == nil {
		return "", errors.New("the secret has no string value")
	}
	if *out.SecretString == "" {
		return "", fmt.Errorf("the secret (version %s) is empty", out.VersionId)
	}
	return *out.SecretString, nil
}

// call sends one signed GetSecretValue and decodes its answer into out.
// retry says whether a failure is worth another attempt.
func (r *Resolver) call(ctx context.Context, region string, body []byte, out *getSecretValueOutput) (retry bool, err error) {
	creds, err := r.credentials.Retrieve(ctx)
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint(region)+"/", bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	sum := sha256.Sum256(body)
	if err := r.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), service, region, time.Now()); err != nil {
		return false, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		// The transport failed: the request may not have arrived, and
		// reading a secret twice is harmless. A deadline is not retried.
		return ctx.Err() == nil, fmt.Errorf("GetSecretValue: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return ctx.Err() == nil, fmt.Errorf("GetSecretValue: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		e := errorOf(resp, data)
		return e.retryable(), e
	}
	if err := json.Unmarshal(data, out); err != nil {
		return false, fmt.Errorf("GetSecretValue: decoding the answer: %w", err)
	}
	return false, nil
}

// apiError is an error answer of Secrets Manager. Its text holds the
// error code, message and status, never the request's credentials.
type apiError struct {
	Status    int
	Code      string
	Message   string
	RequestID string
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("GetSecretValue: %s (HTTP %d)", e.Code, e.Status)
	if e.Message != "" {
		s = fmt.Sprintf("GetSecretValue: %s: %s (HTTP %d)", e.Code, e.Message, e.Status)
	}
	if e.RequestID != "" {
		s += ", request id " + e.RequestID
	}
	return s
}

// retryable is the SDK standard retryer's rule for this call: throttling
// and the service's own failures.
func (e *apiError) retryable() bool {
	switch e.Code {
	case "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded",
		"InternalServiceError", "RequestTimeout", "RequestTimeoutException":
		return true
	}
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// errorOf reads an awsJson1_1 error answer: the code is in the
// X-Amzn-ErrorType header or the body's __type (either may carry a
// namespace before '#' and details after ':'), the message in the body's
// message or Message.
func errorOf(resp *http.Response, data []byte) *apiError {
	var body struct {
		Type         string `json:"__type"`
		Code         string `json:"code"`
		Message      string `json:"message"`
		MessageUpper string `json:"Message"`
	}
	_ = json.Unmarshal(data, &body) // a body that is not JSON leaves the status
	code := resp.Header.Get("X-Amzn-ErrorType")
	for _, c := range []string{body.Code, body.Type} {
		if code == "" {
			code = c
		}
	}
	if i := strings.IndexByte(code, ':'); i >= 0 {
		code = code[:i]
	}
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	if code == "" {
		code = http.StatusText(resp.StatusCode)
	}
	msg := body.Message
	if msg == "" {
		msg = body.MessageUpper
	}
	return &apiError{Status: resp.StatusCode, Code: code, Message: msg, RequestID: resp.Header.Get("X-Amzn-Requestid")}
}

// regionOf reads the region of arn:aws:secretsmanager:<region>:<account>:secret:<name>.
func regionOf(arn string) string {
	parts := strings.SplitN(arn, ":", 5)
	if len(parts) < 5 {
		return ""
	}
	return parts[3]
}
