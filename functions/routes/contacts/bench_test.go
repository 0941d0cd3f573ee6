package contacts_test

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/personalcrm/core/functions/routes/contacts"
	"github.com/personalcrm/core/shared/cache"
	"github.com/personalcrm/core/shared/testkit"
)

// variant is one way of serving GET /v1/contacts/{id}.
type variant struct {
	name string
	get  func() int // one request; returns its status
}

// getVariants prepares GET /v1/contacts/{id}, session resolution included,
// against local PostgreSQL and Redis, three ways:
//
//   - off: no cache; the session and the contact come from PostgreSQL.
//   - hit: both come from Redis.
//   - down: the Redis was killed after use, so the circuit breaker is
//     open and requests go to PostgreSQL past a skipped cache.
//
// Each is warmed up before it is returned.
func getVariants(b *testing.B) []variant {
	pool := testkit.DB(b)
	// Redis servers of the benchmark's own, which no other test loads:
	// one serves, the other is killed.
	open := func(r *testkit.RedisServer) *cache.Cache {
		c, err := cache.Open(r.URL(), cache.RedisOptions{}, cache.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	redis, dying := testkit.StartRedis(b), testkit.StartRedis(b)
	caches := []struct {
		name  string
		cache *cache.Cache
	}{
		{"off", nil},
		{"hit", open(redis)},
		{"down", open(dying)},
	}
	var out []variant
	for _, v := range caches {
		srv := cachedServer(b, pool, v.cache)
		_, token := testkit.User(b, pool, "bench-"+v.name+"@example.com")
		res := testkit.Transports(srv)[0].Do(b, testkit.Request("POST", "/v1/contacts", token,
			map[string]any{"name": "Grace Hopper", "email": "grace@example.com", "company": "Navy", "notes": "COBOL"}))
		var c contacts.Contact
		if raw := testkit.ReadJSON(b, res, &c); res.StatusCode != http.StatusCreated {
			b.Fatalf("create: %d %s", res.StatusCode, raw)
		}
		target := "/v1/contacts/" + c.ID.String()
		get := func() int {
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, testkit.Request("GET", target, token, nil))
			return w.Code
		}
		for range 50 { // fill the cache, warm the pools
			if code := get(); code != http.StatusOK {
				b.Fatalf("%s: warm-up status %d", v.name, code)
			}
		}
		out = append(out, variant{v.name, get})
	}
	dying.Kill()
	if code := out[2].get(); code != http.StatusOK { // the failure that opens the breaker
		b.Fatalf("down: status %d", code)
	}
	return out
}

// BenchmarkContactsGet measures each variant on its own. Besides ns/op it
// reports the median and 99th percentile latency (p50-ns, p99-ns).
func BenchmarkContactsGet(b *testing.B) {
	for _, v := range getVariants(b) {
		b.Run("cache="+v.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				code := v.get()
				lat = append(lat, time.Since(start))
				if code != http.StatusOK {
					b.Fatalf("status %d", code)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(percentile(lat, 50)), "p50-ns")
			b.ReportMetric(float64(percentile(lat, 99)), "p99-ns")
		})
	}
}

// BenchmarkContactsGetRatios serves the variants in turn, a block of
// requests each in random order, so that whatever else the machine does
// weighs on all of them alike, and reports the budgets' ratios over the cache being off:
// hit/off of the mean latency (budget 0.5) and down/off of the 99th
// percentile (budget 1.2), with each variant's mean and p99.
func BenchmarkContactsGetRatios(b *testing.B) {
	vs := getVariants(b)
	lat := make([][]time.Duration, len(vs))
	for i := range lat {
		lat[i] = make([]time.Duration, 0, b.N)
	}
	b.ResetTimer()
	for n := 0; n < b.N; n += block {
		for _, i := range rand.Perm(len(vs)) {
			for range min(block, b.N-n) {
				start := time.Now()
				code := vs[i].get()
				lat[i] = append(lat[i], time.Since(start))
				if code != http.StatusOK {
					b.Fatalf("%s: status %d", vs[i].name, code)
				}
			}
		}
	}
	b.StopTimer()
	mean := make([]float64, len(vs))
	p50 := make([]float64, len(vs))
	p99 := make([]float64, len(vs))
	for i, v := range vs {
		mean[i] = float64(average(lat[i]))
		p50[i] = float64(percentile(lat[i], 50))
		p99[i] = float64(percentile(lat[i], 99))
		b.ReportMetric(mean[i], v.name+"-mean-ns")
		b.ReportMetric(p50[i], v.name+"-p50-ns")
		b.ReportMetric(p99[i], v.name+"-p99-ns")
	}
	b.ReportMetric(mean[1]/mean[0], "hit/off-mean")
	b.ReportMetric(p50[1]/p50[0], "hit/off-p50")
	b.ReportMetric(p99[2]/p99[0], "down/off-p99")
	b.ReportMetric(0, "ns/op") // the ratios are the result
}

// block is how many requests a variant serves in a row: enough for its
// server (PostgreSQL or Redis) to be busy, as under steady traffic, rather
// than woken from idle for each request.
const block = 50

func average(d []time.Duration) time.Duration {
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return sum / time.Duration(len(d))
}

// percentile sorts d and returns its p-th percentile.
func percentile(d []time.Duration, p int) time.Duration {
	slices.Sort(d)
	return d[min(len(d)-1, len(d)*p/100)]
}
