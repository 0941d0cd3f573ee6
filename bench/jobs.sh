#!/usr/bin/env bash
# Job queue benchmarks: contact extraction through the worker adapter, in
# SQS event batches of ten, against the local PostgreSQL (TEST_DATABASE_URL
# or the default of shared/testkit), with every message delivered twice.
#
# Prints, on stdout:
#   jobs_msgs_per_s <value> msgs/s          messages handled per second, the duplicates included (budget >= 1000)
#   jobs_duplicate_effects <value> count    interactions or links off from each email counted once (budget 0)
# and on stderr the distinct jobs per second, the baseline (the same
# extraction called directly, with no queue) and the ratio of the two,
# all medians of the runs.
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

echo "jobs_msgs_per_s $msgs msgs/s"
echo "jobs_duplicate_effects $dups count"
awk -v a="$jobs_s" -v b="$bare" -v n="$count" 'BEGIN {
	printf "distinct jobs/s through the adapter %s; baseline without queue %s jobs/s; adapter/baseline %.2f (medians of %d runs)\n", a, b, a / b, n
}' >&2
