package testkit

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/personalcrm/core/shared/cache"
)

// DefaultRedisURL is the Redis tests use when TEST_REDIS_URL is unset.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

// RedisURL is the Redis server tests share, each under its own key prefix.
func RedisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return DefaultRedisURL
}

// RedisPrefix returns a key prefix of this test's own on the shared test
// Redis; every key under it is deleted when the test ends.
func RedisPrefix(t testing.TB) string {
	t.Helper()
	prefix := "t" + randomHex(6) + ":"
	t.Cleanup(func() { deletePrefix(t, RedisURL(), prefix) })
	return prefix
}

// Redis returns a cache on the shared test Redis whose keys (and rate
// limits) are this test's own, deleted when the test ends. o's Prefix is
// replaced.
func Redis(t testing.TB, o cache.Options) *cache.Cache {
	t.Helper()
	b, err := cache.NewRedis(RedisURL(), cache.RedisOptions{Timeout: time.Second})
	if err != nil {
		t.Fatalf("testkit: redis: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Ping(ctx); err != nil {
		b.Close()
		t.Fatalf("testkit: reach Redis at %s: %v\n(start Redis or set TEST_REDIS_URL)", redactURL(RedisURL()), err)
	}
	o.Prefix = RedisPrefix(t)
	c := cache.New(b, o)
	t.Cleanup(func() { c.Close() })
	return c
}

func deletePrefix(t testing.TB, url, prefix string) {
	b, err := cache.NewRedis(url, cache.RedisOptions{Timeout: 5 * time.Second})
	if err != nil {
		return
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rdb := b.Client()
	// Tests clean up after themselves with SCAN: a test's keyspace is
	// small, and KEYS would block the server for everyone else.
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	for _, pattern := range []string{"rate:" + prefix + "*"} {
		it := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		for it.Next(ctx) {
			keys = append(keys, it.Val())
		}
	}
	if len(keys) > 0 {
		if err := rdb.Del(ctx, keys...).Err(); err != nil {
			t.Logf("testkit: delete test keys: %v", err)
		}
	}
}

// RedisServer is a private redis-server process, for tests that kill and
// restart the cache.
type RedisServer struct {
	t    testing.TB
	path string
	dir  string
	port int
	// tlsPort, when not zero, is a second port that speaks TLS only.
	tlsPort int
	// cluster starts the server as a node of a Redis Cluster.
	cluster bool
	proc    *os.Process
	// exited receives the process's end; Wait runs in a goroutine.
	exited chan error
}

// StartRedis starts a redis-server of this test's own on a free loopback
// port, keeping nothing on disk, and stops it when the test ends.
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	return startRedis(t, false)
}

// StartRedisTLS is StartRedis with a second port that speaks TLS only,
// with a self-signed certificate for 127.0.0.1: TLSURL.
func StartRedisTLS(t testing.TB) *RedisServer {
	t.Helper()
	return startRedis(t, true)
}

func startRedis(t testing.TB, tls bool) *RedisServer {
	t.Helper()
	path, err := redisServerPath()
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	return startRedisAt(t, path, tls, false)
}

func startRedisAt(t testing.TB, path string, tls, cluster bool) *RedisServer {
	t.Helper()
	s := &RedisServer{t: t, path: path, dir: t.TempDir(), cluster: cluster}
	if tls {
		if err := writeSelfSigned(s.dir); err != nil {
			t.Fatalf("testkit: certificate for redis-server: %v", err)
		}
	}
	t.Cleanup(s.Kill)
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("testkit: find a free port: %v", err)
		}
		s.port = port
		if tls {
			if s.tlsPort, err = freePort(); err != nil {
				t.Fatalf("testkit: find a free port: %v", err)
			}
		}
		err = s.start()
		if err == nil {
			return s
		}
		if attempt == 2 {
			t.Fatalf("testkit: start redis-server: %v", err)
		}
	}
}

// URL is the server's redis:// URL.
func (s *RedisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// TLSURL is the rediss:// URL of a server started with StartRedisTLS. Its
// certificate is self-signed, so the URL skips verifying it.
func (s *RedisServer) TLSURL() string {
	if s.tlsPort == 0 {
		s.t.Fatal("testkit: TLSURL of a redis-server started without TLS")
	}
	return fmt.Sprintf("rediss://127.0.0.1:%d/0?skip_verify=true", s.tlsPort)
}

// Kill stops the server at once (SIGKILL), losing its data, as a crash
// would. Killing a stopped server does nothing.
func (s *RedisServer) Kill() {
	if s.proc == nil {
		return
	}
	s.proc.Kill()
	<-s.exited
	s.proc = nil
}

// Restart starts a killed server again on the same port, empty.
func (s *RedisServer) Restart() {
	s.t.Helper()
	s.Kill()
	if err := s.start(); err != nil {
		s.t.Fatalf("testkit: restart redis-server: %v", err)
	}
}

func (s *RedisServer) start() error {
	args := []string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--daemonize", "no", "--loglevel", "warning"}
	if s.cluster {
		// The node's state file is its own: a restarted node forgets the
		// cluster, as a replaced one would.
		os.Remove(filepath.Join(s.dir, "nodes.conf"))
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(s.dir, "nodes.conf"),
			"--cluster-node-timeout", "5000")
	}
	if s.tlsPort != 0 {
		cert, key := filepath.Join(s.dir, "tls.crt"), filepath.Join(s.dir, "tls.key")
		args = append(args, "--tls-port", strconv.Itoa(s.tlsPort), "--tls-cert-file", cert, "--tls-key-file", key,
			"--tls-ca-cert-file", cert, "--tls-auth-clients", "no")
	}
	cmd := exec.Command(s.path, args...)
	out, err := os.Create(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			return fmt.Errorf("redis-server exited: %v: %s", err, log)
		default:
		}
		if ping(s.port) {
			s.proc, s.exited = cmd.Process, exited
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Kill()
	<-exited
	return fmt.Errorf("redis-server on port %d did not answer within 10s", s.port)
}

// writeSelfSigned writes tls.crt and tls.key into dir: a self-signed
// certificate for 127.0.0.1.
func writeSelfSigned(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "testkit redis"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
}

// ping reports whether a Redis answers PING on port.
func ping(port int) bool {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	buf := make([]byte, 7)
	n, _ := conn.Read(buf)
	return string(buf[:n]) == "+PONG\r\n"
}

// redisServerPath finds redis-server: REDIS_SERVER, then PATH, then the
// places Debian and Homebrew install it (sbin is often not on PATH).
func redisServerPath() (string, error) {
	if p := os.Getenv("REDIS_SERVER"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server", "/opt/homebrew/bin/redis-server", "/usr/local/sbin/redis-server"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("redis-server not found on PATH or in the usual places; install it (apt-get install redis-server) or set REDIS_SERVER")
}
