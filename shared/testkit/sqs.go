package testkit

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// fauxqsScript starts the fauxqs emulator, whose module path is its first
// argument, on a port the system picks, prints {"port": N} once it listens,
// and exits when its standard input ends, that is when the test binary that
// holds the other end has exited, however it ended.
const fauxqsScript = `
import { pathToFileURL } from "node:url";
const { startFauxqs } = await import(pathToFileURL(process.argv[1]).href);
const server = await startFauxqs({ port: 0, logger: false });
process.stdout.write(JSON.stringify({ port: server.port }) + "\n");
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
`

// SQSEmulator is the fauxqs SQS emulator that the tests of one test binary
// share. It speaks the AWS JSON protocol of the current SQS API, keeps
// everything in memory and checks no credentials.
type SQSEmulator struct {
	// Endpoint is the emulator's base URL, such as http://127.0.0.1:40123.
	Endpoint string

	client *sqs.Client
	logs   *logBuffer
	cmd    *exec.Cmd
	// stdin is never written and never closed: the emulator exits when the
	// test binary does, as the operating system then closes it.
	stdin io.WriteCloser
}

var sqsEmulator = sync.OnceValues(startSQS)

// SQS returns the SQS emulator, starting it at the first call in the test
// binary. It runs until the test binary exits, so tests isolate themselves
// with their own queues (see Queue). The emulator is the fauxqs npm package
// run by the Node.js that package.json pins; a failure to start, such as
// node_modules not installed, fails the test.
func SQS(t testing.TB) *SQSEmulator {
	t.Helper()
	e, err := sqsEmulator()
	if err != nil {
		t.Fatalf("sqs emulator: %v", err)
	}
	return e
}

func startSQS() (*SQSEmulator, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	app := filepath.Join(root, "node_modules", "fauxqs", "dist", "app.js")
	if _, err := os.Stat(app); err != nil {
		return nil, fmt.Errorf("fauxqs is not installed (%w): run `npm ci` in %s", err, root)
	}
	node, err := nodeBinary(root)
	if err != nil {
		return nil, err
	}

	logs := &logBuffer{}
	cmd := exec.Command(node, "--disable-warning=ExperimentalWarning", "--input-type=module", "-e", fauxqsScript, app)
	cmd.Dir = root
	for _, kv := range os.Environ() {
		// The emulator's own settings come from the script, not from
		// whatever the developer's shell has.
		if !strings.HasPrefix(kv, "FAUXQS_") && !strings.HasPrefix(kv, "NODE_OPTIONS=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stderr = logs
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	ready := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		ready <- line
		_, _ = io.Copy(logs, r)
		_ = cmd.Wait()
		close(exited)
	}()

	fail := func(err error) (*SQSEmulator, error) {
		_ = cmd.Process.Kill()
		<-exited
		return nil, fmt.Errorf("%w\n%s", err, logs)
	}
	var line string
	select {
	case line = <-ready:
	case <-time.After(30 * time.Second):
		return fail(errors.New("not listening after 30s"))
	}
	var started struct{ Port int }
	if err := json.Unmarshal([]byte(line), &started); err != nil || started.Port == 0 {
		return fail(fmt.Errorf("unexpected start line %q", line))
	}

	e := &SQSEmulator{
		Endpoint: "http://127.0.0.1:" + strconv.Itoa(started.Port),
		logs:     logs,
		cmd:      cmd,
		stdin:    stdin,
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(e.Endpoint + "/health")
	if err != nil {
		return fail(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("health check: %s", resp.Status))
	}
	e.client = sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(e.Endpoint),
		Credentials:  aws.CredentialsProviderFunc(testCredentials),
	})
	return e, nil
}

// testCredentials are the emulator's dummy static credentials.
func testCredentials(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test", Source: "testkit"}, nil
}

// Client returns an SQS client for the emulator: region us-east-1, dummy
// static credentials, no shared config or environment read. It is safe for
// concurrent use.
func (e *SQSEmulator) Client() *sqs.Client { return e.client }

// Logs returns what the emulator has written to stderr, such as errors.
func (e *SQSEmulator) Logs() string { return e.logs.String() }

// Queue creates a queue named name plus a random suffix (kept before a
// ".fifo" ending, which makes it a FIFO queue), with attrs as its attributes,
// and returns its URL. The queue is deleted when the test ends. A failure
// fails the test.
func (e *SQSEmulator) Queue(t testing.TB, name string, attrs map[string]string) string {
	t.Helper()
	base, fifo := strings.CutSuffix(name, ".fifo")
	suffix := make([]byte, 5)
	_, _ = rand.Read(suffix)
	unique := "-" + hex.EncodeToString(suffix)
	if fifo {
		unique += ".fifo"
		attrs = withDefault(attrs, "FifoQueue", "true")
	}
	// SQS takes names of at most 80 characters.
	if len(base)+len(unique) > 80 {
		base = base[:80-len(unique)]
	}
	out, err := e.client.CreateQueue(t.Context(), &sqs.CreateQueueInput{
		QueueName:  aws.String(base + unique),
		Attributes: attrs,
	})
	if err != nil {
		t.Fatalf("create queue %s: %v", base+unique, err)
	}
	url := aws.ToString(out.QueueUrl)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := e.client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)})
		if err != nil && !errors.As(err, new(*types.QueueDoesNotExist)) {
			t.Errorf("delete queue %s: %v", url, err)
		}
	})
	return url
}

// withDefault returns a copy of m in which key is set, to value unless m has
// it already.
func withDefault(m map[string]string, key, value string) map[string]string {
	out := map[string]string{key: value}
	for k, v := range m {
		out[k] = v
	}
	return out
}
