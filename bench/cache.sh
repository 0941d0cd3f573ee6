#!/usr/bin/env bash
# Cache budgets: runs BenchmarkContactsGetRatios (GET /v1/contacts/{id},
# session included, against local PostgreSQL and private redis-server
# processes) several times and prints, as the median over the runs:
#
#   cache_hit_ratio <r> ratio=<r> baseline=cache_off
#       mean latency of a request served from Redis hits (session and
#       contact) over the same request with the cache off; budget 0.5.
#   cache_down_ratio <r> ratio=<r> baseline=cache_off
#       p99 latency with Redis killed (circuit breaker open) over the cache
#       off; budget 1.2.
#
# Lines starting with # give the means and the raw figures.
# Environment: TEST_DATABASE_URL, TEST_REDIS_URL as for the tests;
# BENCH_COUNT (runs, default 5), BENCH_N (requests per variant and run,
# default 6000).
set -euo pipefail
cd "$(dirname "$0")/.."

count="${BENCH_COUNT:-5}"
n="${BENCH_N:-6000}"
out="$(go test ./functions/routes/contacts -run '^$' -bench '^BenchmarkContactsGetRatios$' \
	-benchtime "${n}x" -count "$count")"

printf '%s\n' "$out" | awk '
function median(a, k,   i, j, t) {
	for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
/^BenchmarkContactsGetRatios/ {
	k++
	for (i = 3; i < NF; i += 2) v[$(i + 1), k] = $i
}
END {
	if (k == 0) { print "bench/cache.sh: no benchmark result" > "/dev/stderr"; exit 1 }
	split("hit/off-p50 hit/off-mean down/off-p99 off-p50-ns hit-p50-ns off-mean-ns hit-mean-ns off-p99-ns down-p99-ns", names, " ")
	for (m in names) { for (i = 1; i <= k; i++) a[i] = v[names[m], i]; med[names[m]] = median(a, k) }
	printf "cache_hit_ratio %.3f ratio=%.3f baseline=cache_off\n", med["hit/off-mean"], med["hit/off-mean"]
	printf "cache_down_ratio %.3f ratio=%.3f baseline=cache_off\n", med["down/off-p99"], med["down/off-p99"]
	printf "# medians over %d runs: mean off %.0fus hit %.0fus; p50 off %.0fus hit %.0fus (hit/off %.3f); p99 off %.0fus down %.0fus\n", k,
		med["off-mean-ns"] / 1000, med["hit-mean-ns"] / 1000, med["off-p50-ns"] / 1000, med["hit-p50-ns"] / 1000, med["hit/off-p50"],
		med["off-p99-ns"] / 1000, med["down-p99-ns"] / 1000
}'
