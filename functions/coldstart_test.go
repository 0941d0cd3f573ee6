package functions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/personalcrm/core/shared/catalog"
	"github.com/personalcrm/core/shared/domain/contact"
	"github.com/personalcrm/core/shared/testkit"
)

// coldStartRuns is how many times each binary is started.
const coldStartRuns = 30

// initTraceRuns is how many times each binary is started with
// GODEBUG=inittrace=1; each package's median init time is reported.
const initTraceRuns = 5

// Cold-start budgets over the hello world that uses the SIGTERM option
// (cold_start_hello_world_sigterm), by kind of function.
const (
	routeBudget = 1.5
	jobBudget   = 2.0
)

// BenchmarkColdStart measures, for every function of the catalog, the
// median time from exec to the binary's first Runtime API "next" request,
// and compares it with an aws-lambda-go hello world built with the same
// flags and with a hello world that also uses the SIGTERM option every
// function uses, the baseline of the budgets: routes 1.5x, jobs and ops
// 2.0x. Per function it prints one line with the start time, both ratios,
// the budget, the binary's size and its package initialisation (the sum
// of the median time of each package under GODEBUG=inittrace=1, and the
// three costliest packages), so a regression names itself:
//
//	cold_start_contacts-get 5.210 ms ratio=1.31 baseline=hello_world_sigterm budget=1.5 ok size_mb=14.4 init_ms=1.92 top=shared/config:0.61,...
//
// and then the worst ratio of each kind over that baseline. A function over
// its budget is flagged "OVER", not failed: timings under load are noisy.
//
// Run it with -benchtime=1x: one measurement is 30 starts per binary.
func BenchmarkColdStart(b *testing.B) {
	dir := b.TempDir()
	build(b, dir, "./functions/testdata/hello", "hello")
	build(b, dir, "./functions/testdata/hello-sigterm", "hello-sigterm")
	var names []string
	kinds := map[string]catalog.Kind{}
	for _, fn := range catalog.All() {
		build(b, dir, "./"+fn.Dir(), fn.Name)
		names = append(names, fn.Name)
		kinds[fn.Name] = fn.Kind
	}
	sort.Strings(names)
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
		b.StopTimer()
		baseline, sigterm := median(base), median(baseSigterm)
		helloInit := initTrace(b, filepath.Join(dir, "hello-sigterm"))
		fmt.Printf("cold_start_hello_world %.3f ms size_mb=%.1f\n", ms(baseline), sizeMB(b, filepath.Join(dir, "hello")))
		fmt.Printf("cold_start_hello_world_sigterm %.3f ms ratio=%.2f baseline=hello_world size_mb=%.1f init_ms=%.2f top=%s\n",
			ms(sigterm), float64(sigterm)/float64(baseline), sizeMB(b, filepath.Join(dir, "hello-sigterm")), helloInit.total, helloInit.top(3))
		worst, worstName := 0.0, ""
		worstOf := map[catalog.Kind]float64{}
		worstNameOf := map[catalog.Kind]string{}
		over := 0
		for _, n := range names {
			m := median(times[n])
			ratio := float64(m) / float64(baseline)
			overSigterm := float64(m) / float64(sigterm)
			budget := jobBudget
			if kinds[n] == catalog.Route {
				budget = routeBudget
			}
			verdict := "ok"
			if overSigterm > budget {
				verdict, over = "OVER", over+1
			}
			it := initTrace(b, filepath.Join(dir, n))
			fmt.Printf("cold_start_%s %.3f ms ratio=%.2f baseline=hello_world_sigterm budget=%.1f %s ratio_hello_world=%.2f size_mb=%.1f init_ms=%.2f top=%s\n",
				n, ms(m), overSigterm, budget, verdict, ratio, sizeMB(b, filepath.Join(dir, n)), it.total, it.top(3))
			if ratio > worst {
				worst, worstName = ratio, n
			}
			if overSigterm > worstOf[kinds[n]] {
				worstOf[kinds[n]], worstNameOf[kinds[n]] = overSigterm, n
			}
		}
		fmt.Printf("cold_start_ratio %.2f x ratio=%.2f baseline=hello_world worst=%s\n", worst, worst, worstName)
		// The same worst function over the hello world that also registers
		// for SIGTERM: what this system's own code costs at cold start.
		w := worst * float64(baseline) / float64(sigterm)
		fmt.Printf("cold_start_ratio_over_sigterm %.2f x ratio=%.2f baseline=hello_world_sigterm worst=%s\n", w, w, worstName)
		for _, k := range []catalog.Kind{catalog.Route, catalog.Job, catalog.Op} {
			budget := jobBudget
			if k == catalog.Route {
				budget = routeBudget
			}
			fmt.Printf("cold_start_ratio_%ss %.2f x ratio=%.2f baseline=hello_world_sigterm budget=%.1f worst=%s\n",
				k, worstOf[k], worstOf[k], budget, worstNameOf[k])
		}
		fmt.Printf("cold_start_over_budget %d functions\n", over)
		b.ReportMetric(worst, "worst-ratio")
		b.StartTimer()
	}
}

// initTimes is a binary's package initialisation under
// GODEBUG=inittrace=1: each package's median clock time over
// initTraceRuns starts, and their sum.
type initTimes struct {
	total float64 // ms
	pkgs  map[string]float64
}

// top lists the n costliest packages as pkg:ms, our module's prefix cut.
func (t initTimes) top(n int) string {
	type pkg struct {
		name string
		ms   float64
	}
	var all []pkg
	for name, v := range t.pkgs {
		all = append(all, pkg{strings.TrimPrefix(name, "github.com/personalcrm/core/"), v})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].ms != all[j].ms {
			return all[i].ms > all[j].ms
		}
		return all[i].name < all[j].name
	})
	var out []string
	for _, p := range all[:min(n, len(all))] {
		out = append(out, fmt.Sprintf("%s:%.2f", p.name, p.ms))
	}
	return strings.Join(out, ",")
}

// initTrace starts bin initTraceRuns times under the stand-in Runtime API
// with GODEBUG=inittrace=1 and reads what the runtime reports.
func initTrace(b *testing.B, bin string) initTimes {
	b.Helper()
	samples := map[string][]float64{}
	for r := 0; r < initTraceRuns; r++ {
		_, stderr := start(b, bin, "GODEBUG=inittrace=1")
		seen := map[string]float64{}
		for pkg, v := range parseInitTrace(stderr) {
			seen[pkg] = v
		}
		for pkg, v := range seen {
			samples[pkg] = append(samples[pkg], v)
		}
	}
	t := initTimes{pkgs: map[string]float64{}}
	for pkg, vs := range samples {
		sort.Float64s(vs)
		t.pkgs[pkg] = vs[len(vs)/2]
		t.total += vs[len(vs)/2]
	}
	return t
}

// parseInitTrace reads the runtime's inittrace lines:
//
//	init github.com/x/y @1.2 ms, 0.31 ms clock, 1024 bytes, 12 allocs
func parseInitTrace(stderr string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(stderr, "\n") {
		f := strings.Fields(line)
		if len(f) < 7 || f[0] != "init" || f[6] != "clock," {
			continue
		}
		v, err := strconv.ParseFloat(f[4], 64)
		if err != nil {
			continue
		}
		out[f[1]] += v
	}
	return out
}

func sizeMB(b *testing.B, bin string) float64 {
	b.Helper()
	st, err := os.Stat(bin)
	if err != nil {
		b.Fatal(err)
	}
	return float64(st.Size()) / (1 << 20)
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
	d, _ := start(b, bin)
	return d
}

// start starts bin against a stand-in Runtime API, with env added to its
// environment, and returns the time until its first "next" request and
// what the binary wrote to stderr by then.
func start(b *testing.B, bin string, env ...string) (time.Duration, string) {
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
	cmd.Env = append(cmd.Env, env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	began := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	select {
	case t := <-got:
		cmd.Process.Kill()
		cmd.Wait()
		return t.Sub(began), stderr.String()
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		b.Fatalf("%s never asked for an invocation:\n%s", bin, stderr.String())
	}
	return 0, ""
}

// coldRequestRuns is how many cold requests each side of
// BenchmarkColdRequest makes.
const coldRequestRuns = 15

// BenchmarkColdRequest measures a cold request end to end: from the
// invocation sent to a freshly started Lambda Runtime Interface Emulator,
// which then execs the binary, to its response, for a real contacts-get
// (init, the session lookup and the row, opening its database connection)
// and for hello-db, an aws-lambda-go function that opens one pgx
// connection and runs the same two queries (functions/testdata/hello-db).
// The two alternate, against the same database, and each side's median is
// printed with the ratio:
//
//	cold_request_ms 24.1 ms ratio=1.12 baseline=hello_db
//
// Run it with -benchtime=1x.
func BenchmarkColdRequest(b *testing.B) {
	database := testkit.NewDatabase(b)
	pool := database.Pool(b)
	userID, token := testkit.User(b, pool, "cold@example.com")
	c, err := contact.NewService(pool).Create(context.Background(), userID, contact.Fields{Name: ptr("Ada Lovelace"), Email: ptr("ada@example.com")})
	if err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "invoke", catalog.ContactsGet+".json"))
	if err != nil {
		b.Fatal(err)
	}
	var fx fixture
	replacer := strings.NewReplacer("{{token}}", token, "{{contactId}}", c.ID.String())
	if err := json.Unmarshal([]byte(replacer.Replace(string(raw))), &fx); err != nil {
		b.Fatal(err)
	}
	fn, ok := catalog.Lookup(catalog.ContactsGet)
	if !ok {
		b.Fatal("no contacts-get in the catalog")
	}
	bins := []struct{ name, bin string }{
		{"hello_db", testkit.BuildLambda(b, "github.com/personalcrm/core/functions/testdata/hello-db")},
		{catalog.ContactsGet, testkit.BuildLambda(b, "github.com/personalcrm/core/"+fn.Dir())},
	}
	env := func(name string) map[string]string {
		return map[string]string{"AWS_LAMBDA_FUNCTION_NAME": name, "APP_ENV": "test", "DATABASE_URL": database.URL}
	}
	once := func(name, bin string) time.Duration {
		l := testkit.RIE(b, bin, env(name))
		defer l.Stop()
		began := time.Now()
		out := l.Invoke(b, fx.Event)
		d := time.Since(began)
		var res events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(out, &res); err != nil || res.StatusCode != http.StatusOK {
			b.Fatalf("%s: %s\nlogs:\n%s", name, out, l.Logs())
		}
		return d
	}
	b.ResetTimer()
	for range b.N {
		times := map[string][]time.Duration{}
		for r := range coldRequestRuns {
			for i := range bins {
				p := bins[(i+r)%len(bins)] // each goes first in turn
				times[p.name] = append(times[p.name], once(p.name, p.bin))
			}
		}
		base, fnTime := median(times["hello_db"]), median(times[catalog.ContactsGet])
		ratio := float64(fnTime) / float64(base)
		fmt.Printf("cold_request_hello_db %.1f ms\n", ms(base))
		fmt.Printf("cold_request_ms %.1f ms ratio=%.2f baseline=hello_db function=%s\n", ms(fnTime), ratio, catalog.ContactsGet)
		b.ReportMetric(ratio, "ratio")
	}
}
