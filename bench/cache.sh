#!/usr/bin/env bash
# The cache's budgets: runs BenchmarkCacheRatios (GET /v1/contacts/{id},
# session included, against local PostgreSQL and private redis-server
# processes; see functions/routes/contacts/cache_bench_test.go) and prints
#
#   cache_hit_ratio <x> x ratio=<x> baseline=cache_off    (budget 0.5)
#   cache_down_ratio <y> x ratio=<y> baseline=cache_off   (budget 1.2)
#
# with the latencies they come from. TEST_DATABASE_URL and TEST_REDIS_URL
# apply as for the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench '^BenchmarkCacheRatios$' -benchtime=1x -timeout 10m ./functions/routes/contacts |
	grep -E '^cache_[a-z_]+ [0-9.]+ '
