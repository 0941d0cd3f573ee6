// Package awssecret resolves the secret variables of shared/config that
// hold a Secrets Manager ARN, at init: one GetSecretValue per distinct ARN
// per process, the value kept for the life of the process (a Lambda
// execution environment).
//
// The client is built at first use from the Lambda environment (see
// shared/awsenv), so a function whose variables hold no ARN never builds
// it and does no I/O.
package awssecret

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/personalcrm/core/shared/awsenv"
)

// Timeout bounds one secret's fetch, retries included: Lambda gives the
// whole init ten seconds, and a Secrets Manager call through the VPC
// endpoint takes tens of milliseconds.
const Timeout = 4 * time.Second

// Resolver fetches secrets from Secrets Manager and keeps their values.
// It implements config.SecretResolver and is safe for concurrent use.
type Resolver struct {
	client func(region string) (*secretsmanager.Client, error)

	mu     sync.Mutex
	values map[string]*fetch
}

// fetch is one secret's value, or the fetch in progress.
type fetch struct {
	done chan struct{}
	val  string
	err  error
}

// New returns a resolver that reaches Secrets Manager through the client
// that client returns (called at each fetch; it may be costly only once).
func New(client func(region string) (*secretsmanager.Client, error)) *Resolver {
	return &Resolver{client: client, values: map[string]*fetch{}}
}

// FromEnv returns a resolver whose client is built at first use from the
// environment: the region is AWS_REGION, else the ARN's; credentials the
// execution role's; AWS_ENDPOINT_URL_SECRETS_MANAGER or AWS_ENDPOINT_URL
// replace the endpoint.
func FromEnv() *Resolver {
	var mu sync.Mutex
	clients := map[string]*secretsmanager.Client{}
	return New(func(region string) (*secretsmanager.Client, error) {
		if r := awsenv.Region(); r != "" {
			region = r
		}
		if region == "" {
			return nil, awsenv.ErrNoRegion
		}
		mu.Lock()
		defer mu.Unlock()
		if c, ok := clients[region]; ok {
			return c, nil
		}
		c := secretsmanager.New(secretsmanager.Options{
			Region:           region,
			Credentials:      awsenv.Credentials(),
			RetryMaxAttempts: 3,
			BaseEndpoint:     awsenv.Endpoint("Secrets Manager"),
		})
		clients[region] = c
		return c, nil
	})
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

func (r *Resolver) get(ctx context.Context, arn string) (string, error) {
	c, err := r.client(regionOf(arn))
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", err
	}
	if out.SecretString == nil {
		return "", errors.New("the secret has no string value")
	}
	if *out.SecretString == "" {
		return "", fmt.Errorf("the secret (version %s) is empty", aws.ToString(out.VersionId))
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
