package functions_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/personalcrm/core/shared/catalog"
)

// coldStartRuns is how many times each binary is started.
const coldStartRuns = 30

// BenchmarkColdStart measures, for every function of the catalog, the
// median time from exec to the binary's first Runtime API "next" request,
// and compares it with an aws-lambda-go hello world built with the same
// flags (and, separately, with a hello world that also uses the SIGTERM
// option every function uses). It prints one line per function and the
// worst ratio:
//
//	cold_start_ratio 1.31 x ratio=1.31 baseline=hello_world
//
// Run it with -benchtime=1x: one measurement is 30 starts per binary.
func BenchmarkColdStart(b *testing.B) {
	dir := b.TempDir()
	build(b, dir, "./functions/testdata/hello", "hello")
	build(b, dir, "./functions/testdata/hello-sigterm", "hello-sigterm")
	var names []string
	for _, fn := range catalog.All() {
		build(b, dir, "./"+fn.Dir(), fn.Name)
		names = append(names, fn.Name)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Interleave the baseline with the functions so drift in the
		// machine's speed affects both alike.
		base := make([]time.Duration, 0, coldStartRuns)
		baseSigterm := make([]time.Duration, 0, coldStartRuns)
		times := map[string][]time.Duration{}
		for r := 0; r < coldStartRuns; r++ {
			base = append(base, startOnce(b, filepath.Join(dir, "hello")))
			baseSigterm = append(baseSigterm, startOnce(b, filepath.Join(dir, "hello-sigterm")))
			for _, n := range names {
				times[n] = append(times[n], startOnce(b, filepath.Join(dir, n)))
			}
		}
		baseline, sigterm := median(base), median(baseSigterm)
		fmt.Printf("cold_start_hello_world %.3f ms\n", ms(baseline))
		fmt.Printf("cold_start_hello_world_sigterm %.3f ms ratio=%.2f baseline=hello_world\n", ms(sigterm), float64(sigterm)/float64(baseline))
		worst, worstName := 0.0, ""
		sort.Strings(names)
		for _, n := range names {
			m := median(times[n])
			ratio := float64(m) / float64(baseline)
			fmt.Printf("cold_start_%s %.3f ms ratio=%.2f baseline=hello_world\n", n, ms(m), ratio)
			if ratio > worst {
				worst, worstName = ratio, n
			}
		}
		fmt.Printf("cold_start_ratio %.2f x ratio=%.2f baseline=hello_world worst=%s\n", worst, worst, worstName)
		// The same worst function over the hello world that also registers
		// for SIGTERM: what this system's own code costs at cold start.
		w := worst * float64(baseline) / float64(sigterm)
		fmt.Printf("cold_start_ratio_over_sigterm %.2f x ratio=%.2f baseline=hello_world_sigterm worst=%s\n", w, w, worstName)
		b.ReportMetric(worst, "worst-ratio")
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// build compiles pkg as a Lambda would be built, for this machine's
// architecture so it can run here.
func build(b *testing.B, dir, pkg, name string) {
	b.Helper()
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(dir, name), pkg)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
}

// startOnce starts bin against a stand-in Runtime API and returns the time
// until its first "next" request.
func startOnce(b *testing.B, bin string) time.Duration {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	got := make(chan time.Time, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Functions that close their pool on SIGTERM register an internal
		// extension first, as they do in Lambda; answer it at once.
		if r.URL.Path == "/2020-01-01/extension/register" {
			w.Header().Set("Lambda-Extension-Identifier", "bench-extension")
			w.Write([]byte(`{}`))
			return
		}
		if strings.HasSuffix(r.URL.Path, "/invocation/next") {
			select {
			case got <- time.Now():
			default:
			}
		}
		<-r.Context().Done()
	})}
	go srv.Serve(ln)
	defer srv.Close()

	cmd := exec.Command(bin)
	cmd.Env = []string{
		"AWS_LAMBDA_RUNTIME_API=" + ln.Addr().String(),
		"AWS_LAMBDA_FUNCTION_NAME=" + filepath.Base(bin),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_REGION=eu-west-1",
		"APP_ENV=test",
		"DATABASE_URL=postgres://app@127.0.0.1:5432/crm?sslmode=disable",
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	select {
	case t := <-got:
		return t.Sub(start)
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		b.Fatalf("%s never asked for an invocation:\n%s", bin, stderr.String())
	}
	return 0
}
