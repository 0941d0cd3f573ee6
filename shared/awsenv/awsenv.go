// Package awsenv builds the settings of an aws-sdk-go-v2 client from the
// environment Lambda gives a function: AWS_REGION and the execution role's
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
//
// It replaces the SDK's config.LoadDefaultConfig, which reads shared
// config files and links machinery that costs every cold start a fraction
// of a millisecond of package init, for credentials Lambda already put in
// the environment. Nothing here does I/O.
package awsenv

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// ErrNoRegion is returned when the environment names no region.
var ErrNoRegion = errors.New("no AWS region: set AWS_REGION")

// Region is AWS_REGION, else AWS_DEFAULT_REGION; empty when neither is set.
func Region() string { return first("AWS_REGION", "AWS_DEFAULT_REGION") }

// Credentials returns the credentials in the environment, read at each
// call so a test can change them. Lambda sets them for the life of the
// execution environment. It errors when no access key is set, so a
// request is never sent unsigned.
func Credentials() aws.CredentialsProvider { return envCredentials{} }

type envCredentials struct{}

func (envCredentials) Retrieve(context.Context) (aws.Credentials, error) {
	id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		return aws.Credentials{}, errors.New("no AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")
	}
	return aws.Credentials{
		AccessKeyID:     id,
		SecretAccessKey: secret,
		SessionToken:    os.Getenv("AWS_SESSION_TOKEN"),
		Source:          "environment",
	}, nil
}

// Endpoint is the endpoint override for a service, as the SDK's shared
// configuration names it: AWS_ENDPOINT_URL_<SERVICE> (service id upper
// case, spaces as underscores, e.g. SECRETS_MANAGER), else
// AWS_ENDPOINT_URL. It returns nil when neither is set, so the client
// resolves the service's regional endpoint.
func Endpoint(serviceID string) *string {
	key := "AWS_ENDPOINT_URL_" + strings.ToUpper(strings.NewReplacer(" ", "_", "-", "_").Replace(serviceID))
	if v := first(key, "AWS_ENDPOINT_URL"); v != "" {
		return aws.String(v)
	}
	return nil
}

func first(names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(os.Getenv(n)); v != "" {
			return v
		}
	}
	return ""
}
