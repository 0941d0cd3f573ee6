package testkit

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type echoResponse struct {
	Message      string `json:"message"`
	Greeting     string `json:"greeting"`
	FunctionName string `json:"functionName"`
	RequestID    string `json:"requestId"`
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

func invokeEcho(t *testing.T, fn *Lambda, message string) {
	t.Helper()
	got := decode[echoResponse](t, fn.Invoke(t, []byte(`{"message":`+strconv.Quote(message)+`}`)))
	if got.RequestID == "" {
		t.Errorf("no request id in the Lambda context")
	}
	got.RequestID = ""
	want := echoResponse{Message: message, Greeting: "hello from env", FunctionName: "echo"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("echo response (-want +got):\n%s", diff)
	}
}

func TestRIE(t *testing.T) {
	t.Parallel()
	bootstrap := BuildLambda(t, "./testdata/echo")
	start := time.Now()
	fn := RIE(t, bootstrap, map[string]string{
		"ECHO_GREETING":            "hello from env",
		"AWS_LAMBDA_FUNCTION_NAME": "echo",
	})
	t.Logf("emulator accepting invocations after %v", time.Since(start))

	t.Run("echo", func(t *testing.T) {
		start := time.Now()
		invokeEcho(t, fn, "ping")
		t.Logf("first invocation (function init included) took %v", time.Since(start))
		if logs := fn.WaitLogs(5*time.Second, `echo handling "ping"`); !strings.Contains(logs, `echo handling "ping"`) {
			t.Errorf("the function's stdout is not in the logs:\n%s", logs)
		}
		invokeEcho(t, fn, "ping again")
	})

	t.Run("handler error", func(t *testing.T) {
		got := decode[map[string]any](t, fn.Invoke(t, []byte(`{"fail":"not today"}`)))
		want := map[string]any{"errorMessage": "refused: not today", "errorType": "refusal"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("error payload (-want +got):\n%s", diff)
		}
	})

	t.Run("undecodable event", func(t *testing.T) {
		got := decode[map[string]any](t, fn.Invoke(t, []byte(`not json`)))
		if got["errorType"] != "SyntaxError" || got["errorMessage"] == "" {
			t.Errorf("error payload = %v, want errorType SyntaxError and a message", got)
		}
	})

	t.Run("process exit", func(t *testing.T) {
		got := decode[map[string]any](t, fn.Invoke(t, []byte(`{"exit":3}`)))
		msg, _ := got["errorMessage"].(string)
		if got["errorType"] != "Runtime.ExitError" || !strings.HasSuffix(msg, "Runtime exited with error: exit status 3") {
			t.Errorf("error payload = %v, want Runtime.ExitError with exit status 3", got)
		}
		// The next invocation gets a fresh process.
		invokeEcho(t, fn, "after exit")
	})

	t.Run("parallel invocations take turns", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() { invokeEcho(t, fn, "turn "+strconv.Itoa(i)) })
		}
		wg.Wait()
	})
}

func TestRIETimeout(t *testing.T) {
	t.Parallel()
	fn := RIE(t, BuildLambda(t, "./testdata/echo"), map[string]string{
		"ECHO_GREETING":               "hello from env",
		"AWS_LAMBDA_FUNCTION_NAME":    "echo",
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "1",
	})
	got := string(fn.Invoke(t, []byte(`{"sleep":"5s"}`)))
	if want := "Task timed out after 1.00 seconds"; got != want {
		t.Errorf("response = %q, want %q", got, want)
	}
	invokeEcho(t, fn, "after timeout")
}

// TestRIEStops checks that the emulator and the function process are gone
// once the test that started them has ended.
func TestRIEStops(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("needs /proc to find the function process")
	}
	var riePID, fnPID int
	t.Run("run", func(t *testing.T) {
		fn := RIE(t, BuildLambda(t, "./testdata/echo"), map[string]string{"ECHO_GREETING": "hello from env", "AWS_LAMBDA_FUNCTION_NAME": "echo"})
		invokeEcho(t, fn, "before stop")
		riePID = fn.cmd.Process.Pid
		// Any of the emulator's threads may have started the function.
		tasks, err := filepath.Glob("/proc/" + strconv.Itoa(riePID) + "/task/*/children")
		if err != nil {
			t.Fatal(err)
		}
		var children []string
		for _, task := range tasks {
			b, err := os.ReadFile(task)
			if err != nil {
				t.Fatal(err)
			}
			children = append(children, strings.Fields(string(b))...)
		}
		if len(children) != 1 {
			t.Fatalf("emulator children = %q, want the one function process", children)
		}
		fnPID, _ = strconv.Atoi(children[0])
	})
	if riePID == 0 || fnPID == 0 {
		t.Fatal("no processes recorded")
	}
	for name, pid := range map[string]int{"emulator": riePID, "function": fnPID} {
		deadline := time.Now().Add(3 * time.Second)
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Errorf("%s process %d still running after cleanup", name, pid)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// alive reports whether pid is a process that has not exited; a zombie
// waiting to be reaped counts as exited.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
