package testkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// moduleRoot is the directory holding go.mod, found by walking up from the
// working directory; go test runs each test binary in its package directory.
var moduleRoot = sync.OnceValues(func() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
})

// goTool returns the path of a tool declared in go.mod, building it first
// if the build cache does not have it.
func goTool(name string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "tool", "-n", name)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go tool -n %s: %w\n%s", name, err, stderr.Bytes())
	}
	return strings.TrimSpace(string(out)), nil
}

// BuildLambda compiles the main package pkg into a file named bootstrap in a
// fresh temporary directory and returns its path. It builds the way a Lambda
// is deployed (cgo off, tag lambda.norpc, trimmed paths) but for this
// machine's architecture, so the binary runs under RIE. pkg is an import path
// or a path relative to the test's package directory, such as "./testdata/fn".
// A failed build fails the test with the compiler's output.
func BuildLambda(t testing.TB, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// freePort returns a loopback TCP port that nothing listened on a moment ago.
// Another process may still take it before the caller binds it, so callers
// retry when the bind fails.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitListening waits until every addr accepts TCP connections. It gives up
// when exited is closed (the server process has ended) or at the deadline.
func waitListening(exited <-chan struct{}, deadline time.Duration, addrs ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	var d net.Dialer
	for _, addr := range addrs {
		for {
			conn, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				conn.Close()
				break
			}
			select {
			case <-exited:
				return errors.New("process exited before it listened on " + addr)
			case <-ctx.Done():
				return fmt.Errorf("nothing listening on %s after %v", addr, deadline)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return nil
}

// logBuffer collects a child process's output; it is written by the exec
// package's copying goroutines while tests read it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// minNode is the oldest Node.js release that runs the SQS emulator, which
// needs the node:sqlite module.
var minNode = [2]int{22, 5}

// nodeBinary returns the Node.js pinned in package.json
// (node_modules/.bin/node), or a node on PATH that is at least minNode.
func nodeBinary(root string) (string, error) {
	pinned := filepath.Join(root, "node_modules", ".bin", "node")
	if _, err := os.Stat(pinned); err == nil {
		return pinned, nil
	}
	path, err := exec.LookPath("node")
	if err != nil {
		return "", fmt.Errorf("no %s and no node on PATH: run `npm ci` in %s", pinned, root)
	}
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", path, err)
	}
	v := strings.TrimSpace(string(out))
	if !nodeAtLeast(v, minNode) {
		return "", fmt.Errorf("no %s, and %s is Node.js %s, older than %d.%d: run `npm ci` in %s",
			pinned, path, v, minNode[0], minNode[1], root)
	}
	return path, nil
}

// nodeAtLeast reports whether a `node --version` answer such as "v22.5.1"
// is at least min (major, minor).
func nodeAtLeast(version string, min [2]int) bool {
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return major > min[0] || major == min[0] && minor >= min[1]
}
