package awsenv_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/personalcrm/core/shared/awsenv"
)

func TestRegion(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "eu-central-1")
	if got := awsenv.Region(); got != "eu-central-1" {
		t.Errorf("Region() = %q, want the default region", got)
	}
	t.Setenv("AWS_REGION", "eu-west-1")
	if got := awsenv.Region(); got != "eu-west-1" {
		t.Errorf("Region() = %q, want AWS_REGION", got)
	}
}

func TestCredentials(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDLAMBDA")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "token")
	c, err := awsenv.Credentials().Retrieve(context.Background())
	if err != nil {
		t.Fatalf("credentials: %v", err)
	}
	if c.AccessKeyID != "AKIDLAMBDA" {
		t.Fatalf("access key id %q, want AKIDLAMBDA", c.AccessKeyID)
	}
	if c.SecretAccessKey != "secret" {
		t.Fatalf("secret access key %q, want the environment's", c.SecretAccessKey)
	}
	if c.SessionToken != "token" {
		t.Fatalf("session token %q, want the environment's", c.SessionToken)
	}
	if c.CanExpire {
		t.Fatalf("credentials can expire, want them not to")
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	if _, err := awsenv.Credentials().Retrieve(context.Background()); err == nil {
		t.Fatal("no error without a secret key: requests would go out unsigned")
	}
}

func TestEndpoint(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "")
	if e := awsenv.Endpoint("Secrets Manager"); e != nil {
		t.Errorf("endpoint %q without an override", *e)
	}
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
	if e := awsenv.Endpoint("SQS"); aws.ToString(e) != "http://127.0.0.1:4566" {
		t.Errorf("global override: %v", aws.ToString(e))
	}
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:9000")
	if e := awsenv.Endpoint("Secrets Manager"); aws.ToString(e) != "http://127.0.0.1:9000" {
		t.Errorf("service override: %v", aws.ToString(e))
	}
}
