#!/usr/bin/env bash
# Job queue benchmarks: contact extraction through the worker adapter, in
# SQS event batches of ten, against the local PostgreSQL (TEST_DATABASE_URL
# or the default of shared/testkit), with every message delivered twice.
#
# Prints, on stdout, medians of the runs:
#   jobs_msgs_per_s <value> msgs/s ratio=<x> baseline=direct_extraction
#       messages handled per second, the duplicates included (budget >= 1000);
#       ratio: distinct jobs per second through the adapter over the same
#       extraction called directly, with no queue, at the same concurrency
#   jobs_duplicate_effects <value> count
#       interactions or links off from each email counted once, summed over
#       the runs (budget 0)
# and on stderr the figures the ratio is made of.
#
# Settings: BENCH_JOBS (messages per run, default 2000), BENCH_COUNT (runs,
# default 5), BENCH_INVOCATIONS (batches handled at once, default 4).
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=${BENCH_JOBS:-2000}
count=${BENCH_COUNT:-5}
out=$(go test -run '^$' -bench '^BenchmarkJobs$' -benchtime "${jobs}x" -count "$count" ./functions/workers/)
if ! grep -q '^ok' <<<"$out"; then
	echo "$out" >&2
	exit 1
fi

# median of the values of unit $2 on the lines of benchmark $1
median() {
	grep "^BenchmarkJobs/$1-" <<<"$out" | awk -v unit="$2" '{
		for (i = 2; i < NF; i++) if ($(i+1) == unit) print $i
	}' | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) exit 1
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2
	}'
}

msgs=$(median adapter msgs/s)
dups=$(grep '^BenchmarkJobs/adapter-' <<<"$out" | awk '{
	for (i = 2; i < NF; i++) if ($(i+1) == "duplicate-effects") s += $i
} END { print s + 0 }')
jobs_s=$(median adapter jobs/s)
bare=$(median bare jobs/s)

ratio=$(awk -v a="$jobs_s" -v b="$bare" 'BEGIN { printf "%.2f", a / b }')
echo "jobs_msgs_per_s $msgs msgs/s ratio=$ratio baseline=direct_extraction"
echo "jobs_duplicate_effects $dups count"
echo "distinct jobs/s through the adapter $jobs_s; direct extraction $bare jobs/s (medians of $count runs)" >&2
