package contacts_test

import (
	"fmt"
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

// cacheVariants prepares GET /v1/contacts/{id}, session resolution
// included, against local PostgreSQL and Redis, three ways:
//
//   - off: no cache; the session and the contact come from PostgreSQL.
//   - hit: both come from Redis.
//   - down: the Redis was killed after use, so the circuit breaker is
//     open and requests go to PostgreSQL past a skipped cache.
//
// Each is warmed up before it is returned. The Redis servers are the
// benchmark's own, which no other test loads.
func cacheVariants(b *testing.B) []variant {
	pool := testkit.DB(b)
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
		for range 200 { // fill the cache, warm the pools
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

// BenchmarkContactsGetCache measures each variant on its own. Besides
// ns/op it reports the median and 99th percentile latency.
func BenchmarkContactsGetCache(b *testing.B) {
	for _, v := range cacheVariants(b) {
		b.Run(v.name, func(b *testing.B) {
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

// BenchmarkCacheRatios checks the cache's budgets and prints
//
//	cache_hit_ratio 0.26 x ratio=0.26 baseline=cache_off
//	cache_down_ratio 1.02 x ratio=1.02 baseline=cache_off
//
// cache_hit_ratio is the median latency of a request served from Redis
// hits (session and contact) over the same request with the cache off
// (budget 0.5); the variants serve blocks of requests in random order, so
// that whatever else the machine does weighs on both alike, and each
// block keeps its server (Redis or PostgreSQL) busy as steady traffic
// does. The median, not the mean, because on a shared machine the mean is
// ruled by the few requests that waited for a CPU. The means are printed
// too.
//
// cache_down_ratio is the 99th percentile latency with Redis killed over
// the cache off (budget 1.2). Both read PostgreSQL, so they alternate
// request by request and share the machine's bursts evenly.
func BenchmarkCacheRatios(b *testing.B) {
	vs := cacheVariants(b)
	off, hit, down := vs[0], vs[1], vs[2]
	measure := func(v variant, lat *[]time.Duration) {
		start := time.Now()
		code := v.get()
		*lat = append(*lat, time.Since(start))
		if code != http.StatusOK {
			b.Fatalf("%s: status %d", v.name, code)
		}
	}

	const blocks = 200 // per variant
	var offLat, hitLat []time.Duration
	for range blocks {
		pair := []struct {
			v   variant
			lat *[]time.Duration
		}{{off, &offLat}, {hit, &hitLat}}
		rand.Shuffle(len(pair), func(i, j int) { pair[i], pair[j] = pair[j], pair[i] })
		for _, p := range pair {
			for range block {
				measure(p.v, p.lat)
			}
		}
	}
	hitRatio := float64(percentile(hitLat, 50)) / float64(percentile(offLat, 50))
	meanRatio := float64(average(hitLat)) / float64(average(offLat))

	const n = 10000
	var offTail, downTail []time.Duration
	for i := range n {
		if i%2 == 0 {
			measure(off, &offTail)
			measure(down, &downTail)
		} else {
			measure(down, &downTail)
			measure(off, &offTail)
		}
	}
	downRatio := float64(percentile(downTail, 99)) / float64(percentile(offTail, 99))

	fmt.Printf("cache_off_get %.1f us p50, %.1f us mean, %.1f us p99\n",
		us(percentile(offLat, 50)), us(average(offLat)), us(percentile(offTail, 99)))
	fmt.Printf("cache_hit_get %.1f us p50, %.1f us mean ratio=%.2f mean_ratio=%.2f baseline=cache_off\n",
		us(percentile(hitLat, 50)), us(average(hitLat)), hitRatio, meanRatio)
	fmt.Printf("cache_down_get %.1f us p99 ratio=%.2f baseline=cache_off\n", us(percentile(downTail, 99)), downRatio)
	fmt.Printf("cache_hit_ratio %.2f x ratio=%.2f baseline=cache_off\n", hitRatio, hitRatio)
	fmt.Printf("cache_down_ratio %.2f x ratio=%.2f baseline=cache_off\n", downRatio, downRatio)
	b.ReportMetric(hitRatio, "hit/off")
	b.ReportMetric(downRatio, "down/off-p99")
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

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
