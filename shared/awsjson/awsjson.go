// Package awsjson calls AWS services that speak the JSON protocols
// (awsJson1_0, awsJson1_1): one SigV4-signed HTTPS POST per operation,
// named by the X-Amz-Target header, its input and output plain JSON.
//
// It stands in for the SDK's generated service clients, whose schema and
// endpoint-rule packages cost every cold start of a function that links
// them about half a millisecond to a millisecond of package
// initialisation each (SQS's: 0.4 ms for its schemas, 0.3 ms for its
// endpoints), for the few operations a function calls. Signing is the
// SDK's own SigV4 signer (aws/signer/v4), which functions link anyway, and
// retries follow the SDK's standard mode: throttling, 5xx and transport
// errors, three attempts in all, full-jitter exponential backoff.
//
// Nothing is done until a call, so building a Client does no I/O.
package awsjson

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

// Attempts is how many times a call is tried, by default, when the
// service throttles, fails on its side or cannot be reached.
const Attempts = 3

// maxAnswer bounds the answer read from a service.
const maxAnswer = 16 << 20

// Client calls one AWS service. Its fields are set before the first call
// and not changed after; it is safe for concurrent use.
type Client struct {
	// Service is the service's signing name, such as "sqs".
	Service string
	// Version is the JSON protocol's version: "1.0" or "1.1".
	Version string
	// TargetPrefix names the service in X-Amz-Target, which is
	// <TargetPrefix>.<Operation>, such as "AmazonSQS".
	TargetPrefix string
	// QueryCompatible asks a service that also speaks the query protocol
	// (SQS) for its query error codes too (see Error.QueryCode).
	QueryCompatible bool
	// Endpoint is the service's base URL in a region (see EnvEndpoint).
	Endpoint func(region string) string

	// Credentials sign each call; nil means the environment's (awsenv).
	Credentials aws.CredentialsProvider
	// HTTP sends each call; nil means http.DefaultClient.
	HTTP *http.Client
	// Attempts is how many times a call is tried; zero means Attempts.
	Attempts int
	// Backoff is the wait before attempt n+1 (n >= 1); nil means the
	// SDK standard retryer's (see Backoff).
	Backoff func(n int) time.Duration

	signer sync.Once
	v4     *v4.Signer
}

// EnvEndpoint returns the endpoint of the service whose SDK service id is
// serviceID (such as "SQS", "Secrets Manager") and whose regional host
// starts with prefix (such as "sqs"): the override in the environment
// (AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL, read at each call),
// else https://<prefix>.<region>.amazonaws.com (amazonaws.com.cn in China
// regions), as the SDK resolves it.
func EnvEndpoint(serviceID, prefix string) func(region string) string {
	return func(region string) string {
		if e := awsenv.Endpoint(serviceID); e != nil {
			return *e
		}
		suffix := "amazonaws.com"
		if strings.HasPrefix(region, "cn-") {
			suffix = "amazonaws.com.cn"
		}
		return "https://" + prefix + "." + region + "." + suffix
	}
}

// Backoff is the SDK standard retryer's wait before attempt n+1: full
// jitter over an exponential base of 50 ms, capped at 20 s (never reached
// in three attempts).
func Backoff(n int) time.Duration {
	ceiling := min(50*time.Millisecond<<(n-1), 20*time.Second)
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// Call sends operation with in (marshalled as JSON; nil sends {}) to the
// service in region and decodes the answer into out (unless nil),
// retrying as the package doc says. A failure the service answers is an
// *Error.
func (c *Client) Call(ctx context.Context, region, operation string, in, out any) error {
	if region == "" {
		return fmt.Errorf("%s: %w", operation, awsenv.ErrNoRegion)
	}
	body := []byte("{}")
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("%s: %w", operation, err)
		}
	}
	attempts := c.Attempts
	if attempts <= 0 {
		attempts = Attempts
	}
	backoff := c.Backoff
	if backoff == nil {
		backoff = Backoff
	}
	for n := 1; ; n++ {
		retry, err := c.send(ctx, region, operation, body, out)
		if err == nil {
			return nil
		}
		if !retry || n == attempts {
			return err
		}
		t := time.NewTimer(backoff(n))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (after %v)", ctx.Err(), err)
		}
	}
}

// send makes one attempt; retry says whether its failure is worth another.
func (c *Client) send(ctx context.Context, region, operation string, body []byte, out any) (retry bool, err error) {
	creds := c.Credentials
	if creds == nil {
		creds = awsenv.Credentials()
	}
	cred, err := creds.Retrieve(ctx)
	if err != nil {
		return false, fmt.Errorf("%s: %w", operation, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.Endpoint(region), "/")+"/", bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("%s: %w", operation, err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-"+c.Version)
	req.Header.Set("X-Amz-Target", c.TargetPrefix+"."+operation)
	if c.QueryCompatible {
		req.Header.Set("X-Amzn-Query-Mode", "true")
	}
	c.signer.Do(func() { c.v4 = v4.NewSigner() })
	sum := sha256.Sum256(body)
	if err := c.v4.SignHTTP(ctx, cred, req, hex.EncodeToString(sum[:]), c.Service, region, time.Now()); err != nil {
		return false, fmt.Errorf("%s: %w", operation, err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		// The transport failed: the request may not have arrived. A
		// deadline or a cancellation is not retried.
		return ctx.Err() == nil, fmt.Errorf("%s: %w", operation, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return ctx.Err() == nil, fmt.Errorf("%s: reading the answer: %w", operation, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := errorOf(operation, resp, data)
		return e.Retryable(), e
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return false, fmt.Errorf("%s: decoding the answer: %w", operation, err)
		}
	}
	return false, nil
}

// Error is an error answer of a service. Its text holds the operation,
// code, message, status and request id, never the request's credentials.
type Error struct {
	Operation string
	// Status is the answer's HTTP status.
	Status int
	// Code is the error's shape name, such as QueueDoesNotExist or
	// ThrottlingException, its namespace and details removed; the
	// status's text when the answer names none.
	Code string
	// QueryCode is the query protocol's code of a query-compatible
	// service, such as AWS.SimpleQueueService.NonExistentQueue; empty
	// when the service sent none.
	QueryCode string
	Message   string
	RequestID string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: %s (HTTP %d)", e.Operation, e.Code, e.Status)
	if e.Message != "" {
		s = fmt.Sprintf("%s: %s: %s (HTTP %d)", e.Operation, e.Code, e.Message, e.Status)
	}
	if e.RequestID != "" {
		s += ", request id " + e.RequestID
	}
	return s
}

// Retryable is the SDK standard retryer's rule: throttling, a timeout
// and the service's own failures.
func (e *Error) Retryable() bool {
	if retryableCode(e.Code) || retryableCode(e.QueryCode) {
		return true
	}
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// retryableCode reports whether code is one of the SDK's throttling and
// transient error codes, or an internal error some services answer with a
// 4xx-looking code. A switch, not a map: nothing to build at package init.
func retryableCode(code string) bool {
	switch code {
	case "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
		"TooManyRequestsException", "ProvisionedThroughputExceededException",
		"TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
		"LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
		"EC2ThrottledException",
		"RequestTimeout", "RequestTimeoutException",
		"InternalServiceError", "InternalError", "InternalFailure", "ServiceUnavailable":
		return true
	}
	return false
}

// errorOf reads a JSON protocol error answer: the code is in the
// X-Amzn-ErrorType header or the body's __type or code (any may carry a
// namespace before '#' and details after ':'), the message in the body's
// message or Message; X-Amzn-Query-Error holds "<query code>;<fault>".
func errorOf(operation string, resp *http.Response, data []byte) *Error {
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
	query, _, _ := strings.Cut(resp.Header.Get("X-Amzn-Query-Error"), ";")
	return &Error{
		Operation: operation,
		Status:    resp.StatusCode,
		Code:      code,
		QueryCode: query,
		Message:   msg,
		RequestID: resp.Header.Get("X-Amzn-Requestid"),
	}
}
