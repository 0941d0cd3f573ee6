package db

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

// bundleCerts parses every PEM block of the embedded bundle.
func bundleCerts(t *testing.T) []*x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	rest := rdsCABundle
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatalf("block %d of the RDS bundle: %v", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if strings.TrimSpace(string(rest)) != "" {
		t.Fatalf("the RDS bundle ends with %d bytes that are not PEM", len(rest))
	}
	return certs
}

// Every block is a CA certificate, and each region a stage may run in has
// a current RSA root (the one RDS signs a new instance's certificate
// with by default).
func TestRDSBundleHoldsTheRegionsCAs(t *testing.T) {
	certs := bundleCerts(t)
	current := map[string]bool{}
	for _, c := range certs {
		if !c.IsCA || !strings.HasPrefix(c.Subject.CommonName, "Amazon RDS ") {
			t.Errorf("%q (CA %v) is not an RDS certificate authority", c.Subject.CommonName, c.IsCA)
		}
		if time.Now().Before(c.NotAfter) {
			current[c.Subject.CommonName] = true
		}
	}
	for _, region := range []string{"us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1"} {
		if cn := "Amazon RDS " + region + " Root CA RSA2048 G1"; !current[cn] {
			t.Errorf("no current %q in the bundle", cn)
		}
	}
}

// sslrootcert=rds makes Open's pool and ParseConfig's config trust the
// embedded RDS roots: each root of the bundle verifies against the
// connection's pool.
func TestRDSRootCertTrustsTheBundle(t *testing.T) {
	const url = "postgres://crm_app@crm-dev.abc123.us-east-1.rds.amazonaws.com:5433/crm?sslmode=verify-full&sslrootcert=rds"
	cc, err := ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := Open(context.Background(), url, Options{Mode: Lambda})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for what, cfg := range map[string]*x509.CertPool{
		"ParseConfig": cc.TLSConfig.RootCAs,
		"Open":        pool.Config().ConnConfig.TLSConfig.RootCAs,
	} {
		if cfg == nil {
			t.Fatalf("%s: no root pool: the system's would be used", what)
		}
		verified := 0
		for _, c := range bundleCerts(t) {
			if time.Now().After(c.NotAfter) {
				continue
			}
			if _, err := c.Verify(x509.VerifyOptions{Roots: cfg}); err != nil {
				t.Errorf("%s: %q: %v", what, c.Subject.CommonName, err)
			}
			verified++
		}
		if verified == 0 {
			t.Fatalf("%s: no current certificate verified", what)
		}
	}
}
