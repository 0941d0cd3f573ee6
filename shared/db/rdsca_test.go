package db_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/personalcrm/core/shared/db"
)

const instanceURL = "postgres://crm_app@crm-dev.abc123.us-east-1.rds.amazonaws.com:5433/crm?sslmode=verify-full"

// sslrootcert=rds verifies the server's name and chain against the RDS
// roots and is not sent to the server; a URL without it (the proxy's)
// keeps the system's trust store.
func TestParseConfigRDSRootCert(t *testing.T) {
	cc, err := db.ParseConfig(instanceURL + "&sslrootcert=" + db.RDSRootCert)
	if err != nil {
		t.Fatal(err)
	}
	if cc.TLSConfig == nil || cc.TLSConfig.RootCAs == nil || cc.TLSConfig.InsecureSkipVerify ||
		cc.TLSConfig.ServerName != "crm-dev.abc123.us-east-1.rds.amazonaws.com" {
		t.Fatalf("TLS config %+v: want the RDS roots and the host's name verified", cc.TLSConfig)
	}
	if _, ok := cc.RuntimeParams["sslrootcert"]; ok {
		t.Errorf("runtime params %v: sslrootcert would be sent to the server", cc.RuntimeParams)
	}
	if cc.Host != "crm-dev.abc123.us-east-1.rds.amazonaws.com" || cc.Port != 5433 || cc.User != "crm_app" || cc.Database != "crm" {
		t.Errorf("parsed %s@%s:%d/%s", cc.User, cc.Host, cc.Port, cc.Database)
	}

	proxy, err := db.ParseConfig("postgres://crm_app@crm-prod.proxy-abc.us-east-1.rds.amazonaws.com:5432/crm?sslmode=verify-full")
	if err != nil {
		t.Fatal(err)
	}
	if proxy.TLSConfig == nil || proxy.TLSConfig.RootCAs != nil {
		t.Errorf("proxy URL: root pool %v, want the system's (nil)", proxy.TLSConfig)
	}
}

func TestRDSRootCertNeedsVerifyFull(t *testing.T) {
	for _, mode := range []string{"", "disable", "prefer", "require", "verify-ca"} {
		u := strings.Replace(instanceURL, "sslmode=verify-full", "sslmode="+mode, 1) + "&sslrootcert=rds"
		if _, err := db.ParseConfig(u); err == nil || !strings.Contains(err.Error(), "verify-full") {
			t.Errorf("sslmode=%q: ParseConfig err %v, want refused", mode, err)
		}
		if _, err := db.Open(context.Background(), u, db.Options{Mode: db.Lambda}); err == nil || !strings.Contains(err.Error(), "verify-full") {
			t.Errorf("sslmode=%q: Open err %v, want refused", mode, err)
		}
	}
}

// A server whose certificate another authority signed is refused with
// sslrootcert=rds, and accepted when that authority is the root file:
// the server (a stand-in that answers PostgreSQL's SSLRequest and
// completes the TLS handshake) is otherwise valid for its address.
func TestRDSRootCertRefusesAnotherAuthority(t *testing.T) {
	caPEM, serverCert := testAuthority(t)
	addr := tlsServer(t, serverCert)
	ctx := context.Background()

	cc, err := db.ParseConfig("postgres://crm_app@" + addr + "/crm?sslmode=verify-full&sslrootcert=" + db.RDSRootCert)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pgx.ConnectConfig(ctx, cc)
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("connect with the RDS roots: %v, want an unknown authority", err)
	}

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cc, err = db.ParseConfig("postgres://crm_app@" + addr + "/crm?sslmode=verify-full&sslrootcert=" + url.QueryEscape(caFile))
	if err != nil {
		t.Fatal(err)
	}
	_, err = pgx.ConnectConfig(ctx, cc)
	var certErr *tls.CertificateVerificationError
	if err == nil || errors.As(err, &certErr) || errors.As(err, &unknown) {
		t.Fatalf("connect trusting the server's authority: %v, want the handshake to pass (and the stand-in to hang up)", err)
	}
}

// testAuthority makes a CA and a server certificate it signs for
// 127.0.0.1.
func testAuthority(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Test Root CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsServer answers each connection's SSLRequest with 'S', completes the
// TLS handshake with cert and hangs up. It returns its address.
func tlsServer(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req := make([]byte, 8) // length 8, code 80877103
				if _, err := io.ReadFull(c, req); err != nil || binary.BigEndian.Uint32(req[4:]) != 80877103 {
					return
				}
				if _, err := c.Write([]byte{'S'}); err != nil {
					return
				}
				tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
				tc.Handshake()
				tc.Close()
			}()
		}
	}()
	return ln.Addr().String()
}
