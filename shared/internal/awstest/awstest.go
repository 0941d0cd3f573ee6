// Package awstest helps the tests of shared/awsjson and its callers stand
// up fakes of AWS services: it checks that a request a fake received is
// signed, as sent, with the expected credentials.
package awstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Creds are the credentials Env puts in the environment.
var Creds = aws.Credentials{AccessKeyID: "AKIDLAMBDA", SecretAccessKey: "secret-key", SessionToken: "session-token"}

// Env sets the environment Lambda gives a function in region, with Creds
// as the execution role's credentials.
func Env(t *testing.T, region string) {
	t.Setenv("AWS_REGION", region)
	t.Setenv("AWS_ACCESS_KEY_ID", Creds.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", Creds.SecretAccessKey)
	t.Setenv("AWS_SESSION_TOKEN", Creds.SessionToken)
}

// VerifySignature signs the request r, as received with body, again with
// creds for service in region, at the request's own date and with its own
// signed headers, and compares the signatures: a body or header changed
// after signing, a wrong payload hash, key, scope or session token fails
// the test.
func VerifySignature(t testing.TB, r *http.Request, body []byte, creds aws.Credentials, service, region string) {
	t.Helper()
	auth := r.Header.Get("Authorization")
	_, signed, ok := strings.Cut(auth, "SignedHeaders=")
	if !ok {
		t.Errorf("no signed headers in %q", auth)
		return
	}
	signed, _, _ = strings.Cut(signed, ",")
	date, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		t.Errorf("X-Amz-Date: %v", err)
		return
	}
	if got := r.Header.Get("X-Amz-Security-Token"); got != creds.SessionToken {
		t.Errorf("session token %q, want %q", got, creds.SessionToken)
	}
	again, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return
	}
	for _, h := range strings.Split(signed, ";") {
		if h != "host" && h != "x-amz-date" {
			again.Header.Set(h, r.Header.Get(h))
		}
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hex.EncodeToString(sum[:]), service, region, date); err != nil {
		t.Error(err)
		return
	}
	if got := again.Header.Get("Authorization"); got != auth {
		t.Errorf("signature does not match the request:\n got %s\nwant %s", auth, got)
	}
}
