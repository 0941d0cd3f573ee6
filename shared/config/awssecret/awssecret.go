// Package awssecret resolves the secret variables of shared/config that
// hold a Secrets Manager ARN, at init: one GetSecretValue per distinct ARN
// per process, the value kept for the life of the process (a Lambda
// execution environment).
//
// GetSecretValue is one signed HTTPS POST of Secrets Manager's JSON
// protocol (awsJson1_1) through shared/awsjson rather than the SDK's
// generated service client: every function reads its secrets this way,
// and the client's schema and endpoint-rule packages alone cost each cold
// start about half a millisecond of package initialisation for one call.
// Retries follow the SDK's standard mode for this call: throttling, 5xx
// and transport errors, three attempts in all.
//
// Nothing is done until a variable holds an ARN, so a function outside
// AWS does no I/O.
package awssecret

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/personalcrm/core/shared/awsenv"
	"github.com/personalcrm/core/shared/awsjson"
)

// Timeout bounds one secret's fetch, retries included: Lambda gives the
// whole init ten seconds, and a Secrets Manager call takes tens of
// milliseconds.
const Timeout = 4 * time.Second

// Attempts is how many times a fetch is tried when Secrets Manager
// throttles, fails on its side or cannot be reached.
const Attempts = awsjson.Attempts

// Resolver fetches secrets from Secrets Manager and keeps their values.
// It implements config.SecretResolver and is safe for concurrent use.
type Resolver struct {
	client *awsjson.Client

	mu     sync.Mutex
	values map[string]*fetch
}

// fetch is one secret's value, or the fetch of it under way.
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
		client: &awsjson.Client{
			Service:      "secretsmanager",
			Version:      "1.1",
			TargetPrefix: "secretsmanager",
			Endpoint:     awsjson.EnvEndpoint("Secrets Manager", "secretsmanager"),
			Attempts:     Attempts,
		},
		values: map[string]*fetch{},
	}
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
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()

	var out getSecretValueOutput
	if err := r.client.Call(ctx, region, "GetSecretValue", struct{ SecretId string }{arn}, &out); err != nil {
		return "", err
	}
	if out.SecretString == nil {
		return "", errors.New("the secret has no string value")
	}
	if *out.SecretString == "" {
		return "", fmt.Errorf("the secret (version %s) is empty", out.VersionId)
	}
	return *out.SecretString, nil
}

// regionOf reads the region of arn:aws:secretsmanager:<region>:<account>:secret:<name>.
func regionOf(arn string) string {
	parts := strings.SplitN(arn, ":", 5)
	if len(parts) < 5 {
		return ""
	}
	return parts[3]
}
