package testkit

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rieFunctionTimeout is the function timeout, in seconds, unless the env
// given to RIE sets AWS_LAMBDA_FUNCTION_TIMEOUT; short, so that a hanging
// handler fails its test quickly.
const rieFunctionTimeout = "10"

// invocationsPath is where the emulator takes invocations; it is the Lambda
// Invoke API's path for a function named "function".
const invocationsPath = "/2015-03-31/functions/function/invocations"

// riePath is the aws-lambda-rie tool pinned in go.mod, built once per test
// binary.
var riePath = sync.OnceValues(func() (string, error) { return goTool("aws-lambda-rie") })

// Lambda is a function binary running under the AWS Lambda Runtime Interface
// Emulator (RIE), started by RIE.
type Lambda struct {
	// Endpoint is the emulator's base URL, such as http://127.0.0.1:40123.
	Endpoint string

	timeout time.Duration
	logs    *logBuffer
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the emulator has exited and been reaped

	// mu makes invocations take turns: the emulator runs one at a time and
	// refuses a second one that arrives meanwhile.
	mu sync.Mutex
}

// RIE starts the Lambda bootstrap binary (a provided.al2023 function, such as
// one BuildLambda made) under the Lambda Runtime Interface Emulator on free
// loopback ports, waits until the emulator accepts invocations and stops it
// and the function when the test ends.
//
// The function sees only env plus what Lambda itself sets: AWS_REGION and
// AWS_DEFAULT_REGION (us-east-1), AWS_LAMBDA_FUNCTION_NAME ("function"),
// AWS_LAMBDA_FUNCTION_TIMEOUT (10 seconds), dummy AWS credentials,
// LAMBDA_TASK_ROOT (the bootstrap's directory, also its working directory),
// TZ, LANG and PATH; env overrides any of them. The emulator starts the
// function process at the first invocation, not before.
//
// A failure to start fails the test, with the emulator's output.
func RIE(t testing.TB, bootstrap string, env map[string]string) *Lambda {
	t.Helper()
	rie, err := riePath()
	if err != nil {
		t.Fatalf("lambda emulator: %v", err)
	}
	bootstrap, err = filepath.Abs(bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"PATH":                        "/usr/local/bin:/usr/bin:/bin",
		"TZ":                          ":UTC",
		"LANG":                        "en_US.UTF-8",
		"AWS_REGION":                  "us-east-1",
		"AWS_DEFAULT_REGION":          "us-east-1",
		"AWS_ACCESS_KEY_ID":           "test",
		"AWS_SECRET_ACCESS_KEY":       "test",
		"AWS_SESSION_TOKEN":           "test",
		"AWS_LAMBDA_FUNCTION_NAME":    "function",
		"AWS_LAMBDA_FUNCTION_TIMEOUT": rieFunctionTimeout,
		"LAMBDA_TASK_ROOT":            filepath.Dir(bootstrap),
	}
	maps.Copy(vars, env)
	seconds, err := strconv.Atoi(vars["AWS_LAMBDA_FUNCTION_TIMEOUT"])
	if err != nil || seconds <= 0 {
		t.Fatalf("lambda emulator: AWS_LAMBDA_FUNCTION_TIMEOUT %q is not a whole number of seconds", vars["AWS_LAMBDA_FUNCTION_TIMEOUT"])
	}
	environ := make([]string, 0, len(vars))
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}

	// A free port can be taken by someone else before the emulator binds it;
	// try again with new ports when that happens.
	const attempts = 3
	for i := 1; ; i++ {
		l, err := startRIE(rie, bootstrap, environ)
		if err == nil {
			l.timeout = time.Duration(seconds) * time.Second
			t.Cleanup(l.stop)
			return l
		}
		if i == attempts || !strings.Contains(err.Error(), "address already in use") {
			t.Fatalf("lambda emulator: %v", err)
		}
	}
}

// startRIE runs the emulator once; on failure it has already stopped it.
func startRIE(rie, bootstrap string, environ []string) (*Lambda, error) {
	apiPort, err := freePort()
	if err != nil {
		return nil, err
	}
	invokePort, err := freePort()
	if err != nil {
		return nil, err
	}
	invokeAddr := "127.0.0.1:" + strconv.Itoa(invokePort)
	apiAddr := "127.0.0.1:" + strconv.Itoa(apiPort)

	logs := &logBuffer{}
	cmd := exec.Command(rie,
		// Given on the command line, so the function's own LOG_LEVEL does
		// not set the emulator's.
		"--log-level", "info",
		"--runtime-interface-emulator-address", invokeAddr,
		// Not the default 127.0.0.1:9001, so that emulators run in parallel.
		"--runtime-api-address", apiAddr,
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = environ
	cmd.Stdout = logs
	cmd.Stderr = logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The function process inherits the output pipe; don't let Wait hang on
	// it if the function outlives the emulator.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	l := &Lambda{Endpoint: "http://" + invokeAddr, logs: logs, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(l.exited)
	}()
	if err := waitListening(l.exited, 10*time.Second, apiAddr, invokeAddr); err != nil {
		l.stop()
		return nil, fmt.Errorf("%w\n%s", err, logs)
	}
	return l, nil
}

// stop sends SIGTERM, on which the emulator kills the function and exits,
// and SIGKILL to its process group if it has not exited after a while.
func (l *Lambda) stop() {
	select {
	case <-l.exited:
		return
	default:
	}
	pgid := l.cmd.Process.Pid // Setpgid made the emulator its group's leader
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-l.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-l.exited
	}
}

// Stop stops the emulator and the function before the test ends (it is
// stopped then anyway).
func (l *Lambda) Stop() { l.stop() }

// Logs returns everything the emulator and the function have written so
// far: the emulator's own lines, START/END/REPORT lines per invocation, and
// the function's stdout and stderr.
func (l *Lambda) Logs() string { return l.logs.String() }

// WaitLogs returns the logs once they contain every one of subs, or after
// within. The function's output reaches the logs through a pipe, so a line
// it wrote before answering can arrive just after its answer.
func (l *Lambda) WaitLogs(within time.Duration, subs ...string) string {
	deadline := time.Now().Add(within)
	for {
		logs := l.Logs()
		all := true
		for _, s := range subs {
			if !strings.Contains(logs, s) {
				all = false
				break
			}
		}
		if all || time.Now().After(deadline) {
			return logs
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Invoke sends event to the function and returns the emulator's answer, the
// raw response body. Invocations take turns. A transport error fails the
// test, with the logs.
//
// The emulator reports a failed invocation in the body, as the Lambda Invoke
// API does, but without the X-Amz-Function-Error header:
//   - the handler returned an error: aws-lambda-go's error payload,
//     {"errorMessage": err.Error(), "errorType": "<the error's type name
//     without package or pointer>"}; HTTP 200.
//   - the event did not decode into the handler's input: the same payload
//     with the decoding error, such as errorType "SyntaxError"; HTTP 200.
//   - the function process exited: {"errorType": "Runtime.ExitError",
//     "errorMessage": "RequestId: <id> Error: Runtime exited with error:
//     exit status <n>"}; HTTP 502.
//   - the handler ran past AWS_LAMBDA_FUNCTION_TIMEOUT: the plain text
//     "Task timed out after <n>.00 seconds"; HTTP 200; the function process
//     is killed.
//
// After an exit or a time-out the next invocation starts a fresh function
// process, running its init again.
func (l *Lambda) Invoke(t testing.TB, event []byte) []byte {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, l.Endpoint+invocationsPath, bytes.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: l.timeout + 10*time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("invoke: %v\nlogs:\n%s", err, l.Logs())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("invoke: read response: %v\nlogs:\n%s", err, l.Logs())
	}
	return body
}
