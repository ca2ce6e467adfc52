#!/usr/bin/env bash
# bench/run.sh runs the benchmarks of bindings, store and bench, keeps the raw
# output in bench/results/<date>.txt and prints a summary: per benchmark the
# minimum over the runs of ns/op and allocs/op, and the binder/static
# handshake ratio from the two BenchmarkHandshake sub-benchmarks of this run.
#
# Environment:
#   BENCH_COUNT    runs of each benchmark (go test -count), default 3
#   BENCH_PATTERN  benchmarks to run (go test -bench), default .
#   BENCH_TIME     go test -benchtime, default Go's (1s)
#   BENCH_TIMEOUT  go test -timeout per package, default 60m
#   GO             the go command, default go
#
# Only bash and awk are needed besides Go. The first run of ./bench/ builds a
# store of 10,000 certificates (a few seconds) and caches it in
# $TMPDIR/certctl-bench/ for later runs.
set -euo pipefail

cd "$(dirname "$0")/.."

count=${BENCH_COUNT:-3}
pattern=${BENCH_PATTERN:-.}
timeout=${BENCH_TIMEOUT:-60m}
gocmd=${GO:-go}
packages=(./bindings/ ./store/ ./bench/)

if ! [[ $count =~ ^[1-9][0-9]*$ ]]; then
	echo "run.sh: BENCH_COUNT must be a positive integer, not '$count'" >&2
	exit 2
fi

args=(test -run '^$' -bench "$pattern" -benchmem -count "$count" -timeout "$timeout")
if [[ -n ${BENCH_TIME:-} ]]; then
	args+=(-benchtime "$BENCH_TIME")
fi

mkdir -p bench/results
out="bench/results/$(date -u +%Y-%m-%dT%H%M%SZ).txt"

# One package at a time, so that no two benchmark binaries share the CPUs.
# A failing package does not stop the others; the script exits with the last
# failure's status.
set +e
{
	st=0
	echo "# certctl benchmarks $(date -u +%Y-%m-%dT%H:%M:%SZ), $("$gocmd" version)"
	echo "# $gocmd ${args[*]} <package>"
	for p in "${packages[@]}"; do
		"$gocmd" "${args[@]}" "$p" 2>&1 || st=$?
	done
	exit "$st"
} | tee "$out"
status=${PIPESTATUS[0]}
set -e

echo
echo "raw output: $out"
echo

awk '
# Benchmark lines: name-GOMAXPROCS, iterations, then value/unit pairs.
/^pkg: / { pkg = $2; sub(/.*\//, "", pkg); next }
/^Benchmark/ && / ns\/op/ {
	name = $1
	sub(/-[0-9]+$/, "", name)
	key = pkg "\t" name
	if (!(key in runs)) { order[++n] = key }
	runs[key]++
	for (i = 3; i < NF; i += 2) {
		v = $i + 0
		if ($(i + 1) == "ns/op" && (!(key in ns) || v < ns[key])) { ns[key] = v }
		if ($(i + 1) == "allocs/op" && (!(key in allocs) || v < allocs[key])) { allocs[key] = v }
	}
	if (name == "BenchmarkHandshake/static") { hsStatic = ns[key] }
	if (name == "BenchmarkHandshake/binder") { hsBinder = ns[key] }
}
function human(v) {
	if (v >= 1e9) { return sprintf("%.3f s", v / 1e9) }
	if (v >= 1e6) { return sprintf("%.3f ms", v / 1e6) }
	if (v >= 1e3) { return sprintf("%.3f us", v / 1e3) }
	return sprintf("%.2f ns", v)
}
END {
	if (n == 0) { print "no benchmark results"; exit }
	w = 9
	for (k = 1; k <= n; k++) { split(order[k], f, "\t"); if (length(f[2]) > w) { w = length(f[2]) } }
	printf "%-8s  %-*s  %4s  %14s  %12s  %14s\n", "package", w, "benchmark", "runs", "min ns/op", "", "min allocs/op"
	for (k = 1; k <= n; k++) {
		key = order[k]
		split(key, f, "\t")
		a = (key in allocs) ? sprintf("%d", allocs[key]) : "-"
		printf "%-8s  %-*s  %4d  %14.1f  %12s  %14s\n", f[1], w, f[2], runs[key], ns[key], "(" human(ns[key]) ")", a
	}
	print ""
	if (hsStatic > 0 && hsBinder > 0) {
		printf "handshakes per second, binder / static: %.3f  (binder %s, static %s per handshake; >= 1 means the binder is not slower)\n", hsStatic / hsBinder, human(hsBinder), human(hsStatic)
	} else {
		print "handshake binder/static ratio: n/a (BenchmarkHandshake/static and /binder not both run)"
	}
}
' "$out"

if [[ $status -ne 0 ]]; then
	echo "run.sh: go test failed (exit $status); see $out" >&2
fi
exit "$status"
