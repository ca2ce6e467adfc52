#!/usr/bin/env bash
# bench/run.sh runs the benchmarks of bindings, store and bench, keeps the raw
# output in bench/results/<date>.txt and prints a summary: per benchmark the
# minimum over the runs of ns/op and allocs/op, and the binder/static
# handshake ratio from the two BenchmarkHandshake sub-benchmarks of this run,
# the facade/static ratio of BenchmarkFacadeHandshake, the ratio of
# BenchmarkOverlappingProcesses (first run of each latency) and the on-demand first
# handshake latency (BenchmarkOnDemandFirstHandshake);
# for the etcd benchmarks, the ratios to their bbolt baselines of this run
# (binder load, Due and NextDue at 10,000 certificates), the commit → swap
# propagation percentiles (BenchmarkPropagation: p50/p99/max over the runs'
# worst) and the time the etcd store of 10,000 certificates took to fill;
# for the apply benchmarks (bench/apply_test.go) the range over the runs of
# apply's wall time, of `renew --all --force --workers 8` over the same
# certificates in the same runs and of their ratio, and apply against
# certbot's 155.7 s for 50 names (issue 12's figure); for the peers
# (bench/peers_test.go: lego v4 as a library with 8 goroutines, certbot one
# process per name) their wall times for 50 new certificates at 1 s of CA
# latency and their ratios to certctl apply of the same run (and apply
# --workers 8 of BenchmarkApplyWorkers, the goroutines of issue 12's lego
# figure, when it ran too); and the scale figures of issue 12 with their goals: the binder load of
# 10,000 certificates (and its ratio to the same load with every check on one
# CPU), "what is due" at 100,000 certificates with none
# due (and its ratio to 10,000), the daemon's start and memory at 1,000,
# 10,000 and 100,000 certificates, and its memory growth per certificate.
#
# Environment:
#   BENCH_COUNT    runs of each benchmark (go test -count), default 3
#   BENCH_PATTERN  benchmarks to run (go test -bench), default .
#   BENCH_TIME     go test -benchtime, default Go's (1s)
#   BENCH_TIMEOUT  go test -timeout per package, default 60m
#   GO             the go command, default go
#   CERTCTL_BENCH_1000=1  also run BenchmarkApply1000 (1,000 certificates
#                  through `certctl apply`: 20-40 s of both cores per run)
#   CERTCTL_BENCH_CERTBOT_NAMES=N  BenchmarkPeerCertbot50 issues N names
#                  instead of 50 and scales its time to 50 (certbot takes
#                  about 4 s per name here)
#
# BenchmarkPeerCertbot50 runs only when certbot is on PATH (Debian/Ubuntu:
# apt-get install certbot); otherwise it is skipped and the summary has no
# certbot line. `make test` never needs certbot.
#
# Only bash and awk are needed besides Go. The first run of ./bench/ builds
# stores of 1,000, 10,000 and 100,000 certificates (about 10 s per 10,000;
# the largest takes 430 MB) and caches them in $TMPDIR/certctl-bench/ for
# later runs. The etcd benchmarks start an
# embedded etcd member (on 127.0.0.1) and fill it with those 10,000
# certificates once per run (about 20 s); BenchmarkPropagation re-executes
# the test binary as three helper processes.
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
	if (name == "BenchmarkFacadeHandshake/static") { fhStatic = ns[key] }
	if (name == "BenchmarkFacadeHandshake/facade") { fhFacade = ns[key] }
	if (name == "BenchmarkFacadeHandshake/facade-metrics") { fhMetrics = ns[key] }
	if (name == "BenchmarkOnDemandFirstHandshake") { odFirst = ns[key] }
	# BenchmarkOverlappingProcesses: 8 issue processes / one renew --workers 8.
	if (name ~ /^BenchmarkOverlappingProcesses/) {
		for (i = 3; i < NF; i += 2) { if ($(i + 1) == "ratio" && !((name) in ovl)) { ovl[name] = $i; oorder[++no] = name } }
	}
	# The apply benchmarks: range over the runs of each custom metric.
	if (name ~ /^BenchmarkApply/) {
		if (!(name in ap)) { ap[name] = 1; aorder[++na] = name }
		for (i = 3; i < NF; i += 2) {
			u = $(i + 1); v = $i + 0
			if (u == "apply-s" || u == "renew8-s" || u == "wall-s" || u == "x-certbot" || u == "x-renew8") {
				if (!((name, u) in amin) || v < amin[name, u]) { amin[name, u] = v }
				if (!((name, u) in amax) || v > amax[name, u]) { amax[name, u] = v }
			}
		}
	}
	# Other metrics (cpu-s/op, ready-s of the daemon, kB): the minimum.
	for (i = 3; i < NF; i += 2) {
		u = $(i + 1)
		if (u == "cpu-s/op" || u == "ready-s" || u ~ /-kB$/) {
			v = $i + 0
			if (!((key, u) in cm) || v < cm[key, u]) { cm[key, u] = v }
		}
	}
	# The peers (bench/peers_test.go): range over the runs of their wall times.
	if (name ~ /^BenchmarkPeer/) {
		if (!(name in pe)) { pe[name] = 1; pord[++npe] = name }
		for (i = 3; i < NF; i += 2) {
			u = $(i + 1); v = $i + 0
			if (u == "lego-s" || u == "certbot-s" || u == "certbot50-s" || u == "per-cert-s" || u == "names") {
				if (!((name, u) in pmin) || v < pmin[name, u]) { pmin[name, u] = v }
				if (!((name, u) in pmax) || v > pmax[name, u]) { pmax[name, u] = v }
			}
		}
	}
	# Percentile metrics (BenchmarkPropagation): keep the worst run.
	for (i = 3; i < NF; i += 2) {
		u = $(i + 1)
		if (u == "p50-ms" || u == "p99-ms" || u == "max-ms") {
			v = $i + 0
			if (!((key, u) in pct) || v > pct[key, u]) { pct[key, u] = v }
			if (!(key in hasPct)) { hasPct[key] = 1; porder[++np] = key }
		}
	}
}
/etcd setup: / { sub(/^[ \t]*[^ ]*: /, ""); setup = $0 }
# ratio prints the time of key a over that of key b (both of this run).
function ratio(label, a, b) {
	if ((a in ns) && (b in ns) && ns[b] > 0) {
		printf "%s: %.2f  (etcd %s, bbolt %s per op; < 1 means etcd is faster)\n", label, ns[a] / ns[b], human(ns[a]), human(ns[b])
	}
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
	if (np > 0) {
		print ""
		print "commit -> swap propagation, 3 helper processes (worst run; ms from the start of the Put):"
		for (k = 1; k <= np; k++) {
			key = porder[k]
			split(key, f, "\t")
			printf "  %-36s p50 %8.2f   p99 %8.2f   max %8.2f\n", f[2], pct[key, "p50-ms"], pct[key, "p99-ms"], pct[key, "max-ms"]
		}
		eb = "bench\tBenchmarkPropagation/etcd-binder"; bp = "bench\tBenchmarkPropagation/bbolt-poll"
		if ((eb, "p99-ms") in pct && (bp, "p99-ms") in pct && pct[eb, "p99-ms"] > 0) {
			printf "  bbolt poll / etcd binder: p50 %.0fx, p99 %.0fx (> 1 means etcd propagates faster)\n", pct[bp, "p50-ms"] / pct[eb, "p50-ms"], pct[bp, "p99-ms"] / pct[eb, "p99-ms"]
		}
		print ""
	}
	ratio("binder load of 10,000, etcd / bbolt", "bench\tBenchmarkBinderLoad10kEtcd", "bench\tBenchmarkBinderLoad10k")
	ratio("Due at 10,000 (1% due), etcd / bbolt", "bench\tBenchmarkDue10k/etcd", "bench\tBenchmarkDue10k/bbolt")
	ratio("NextDue at 10,000, etcd / bbolt", "bench\tBenchmarkNextDue10k/etcd", "bench\tBenchmarkNextDue10k/bbolt")
	if (setup != "") { print setup }
	if (hsStatic > 0 && hsBinder > 0) {
		printf "handshakes per second, binder / static: %.3f  (binder %s, static %s per handshake; >= 1 means the binder is not slower)\n", hsStatic / hsBinder, human(hsBinder), human(hsStatic)
	} else {
		print "handshake binder/static ratio: n/a (BenchmarkHandshake/static and /binder not both run)"
	}
	if (fhStatic > 0 && fhFacade > 0) {
		printf "handshakes per second, facade / static: %.3f  (facade %s, static %s per handshake)\n", fhStatic / fhFacade, human(fhFacade), human(fhStatic)
	}
	if (fhStatic > 0 && fhMetrics > 0) {
		printf "handshakes per second, facade with metrics / static: %.3f  (%s per handshake)\n", fhStatic / fhMetrics, human(fhMetrics)
	}
	for (k = 1; k <= no; k++) {
		printf "%s: 8 overlapping issue processes / one renew --workers 8 over 50 names: %.2f (issue 12: <= 1.5)\n", oorder[k], ovl[oorder[k]]
	}
	for (k = 1; k <= na; k++) {
		a = aorder[k]
		if (a ~ /^BenchmarkApply50New/ && ((a, "apply-s") in amin)) {
			printf "%s: apply of 50 new certificates %.2f-%.2f s; renew --all --force --workers 8 over them %.2f-%.2f s (renew8 / apply %.2f-%.2f); certbot one process per name (155.7 s, issue 12) / apply %.0f-%.0fx (issue 12: apply <= 5 s, >= 30x)\n", a, amin[a, "apply-s"], amax[a, "apply-s"], amin[a, "renew8-s"], amax[a, "renew8-s"], amin[a, "x-renew8"], amax[a, "x-renew8"], amin[a, "x-certbot"], amax[a, "x-certbot"]
		} else if (a ~ /^BenchmarkApplyWorkers/ && ((a, "wall-s") in amin)) {
			printf "%s: apply of 50 new certificates %.2f-%.2f s\n", a, amin[a, "wall-s"], amax[a, "wall-s"]
		} else if (a ~ /^BenchmarkApply1000/ && ((a, "apply-s") in amin)) {
			printf "%s: apply of 1,000 new certificates %.1f-%.1f s (issue 12: <= 60 s)\n", a, amin[a, "apply-s"], amax[a, "apply-s"]
		}
	}
	# Peers against certctl apply of the same run, both at 1 s of CA latency.
	ap1 = "BenchmarkApply50New/latency=1s"
	if (npe > 0) {
		print ""
		if ((ap1, "apply-s") in amin) {
			printf "peers, same run, 50 new P-256 certificates at 1 s of CA latency (best run of each; ratio = peer / certctl apply, > 1 means certctl is faster):\n"
			printf "  %-60s %7.2f s\n", "certctl apply (default workers)", amin[ap1, "apply-s"]
			printf "  %-60s %7.2f s   renew8 / certctl apply: %.1fx\n", "certctl renew --all --force --workers 8 (the same 50)", amin[ap1, "renew8-s"], amin[ap1, "renew8-s"] / amin[ap1, "apply-s"]
			aw8 = "BenchmarkApplyWorkers/latency=1s/workers=8"
			if ((aw8, "wall-s") in amin) {
				printf "  %-60s %7.2f s   (BenchmarkApplyWorkers, same run)\n", "certctl apply --workers 8", amin[aw8, "wall-s"]
			}
		} else {
			print "peers, same run (no BenchmarkApply50New/latency=1s in this run, so no ratios):"
		}
		for (k = 1; k <= npe; k++) {
			a = pord[k]; label = ""; v = 0
			if (a ~ /^BenchmarkPeerLego50/ && ((a, "lego-s") in pmin)) {
				sn = a; sub(/.*\//, "", sn)
				if (sn == "providerserver") { label = "lego library, 8 goroutines, http01.ProviderServer" }
				else if (sn == "shared") { label = "lego library, 8 goroutines, shared responder" }
				else if (sn == "shared-32") { label = "lego library, 32 goroutines, shared responder" }
				else { label = "lego library, " sn }
				v = pmin[a, "lego-s"]
			} else if (a ~ /^BenchmarkPeerCertbot50/ && ((a, "certbot50-s") in pmin)) {
				label = "certbot, one process per name"
				v = pmin[a, "certbot50-s"]
				if (pmin[a, "names"] != 50) {
					label = sprintf("certbot, one process per name (%d names, %.2f s each, x 50)", pmin[a, "names"], pmin[a, "per-cert-s"])
				}
			}
			if (label == "") { continue }
			if ((ap1, "apply-s") in amin && amin[ap1, "apply-s"] > 0) {
				printf "  %-60s %7.2f s   %s / certctl apply: %.1fx\n", label, v, (a ~ /Lego/ ? "lego library" : "certbot"), v / amin[ap1, "apply-s"]
			} else {
				printf "  %-60s %7.2f s\n", label, v
			}
		}
	}
	if (odFirst > 0) {
		printf "on-demand first handshake (order against the in-process Pebble): %s\n", human(odFirst)
	}
	scale()
}
# scale prints the figures of issue 12 "Scale" that this run measured.
function scale(   l, f, o, d1, d10, d100, sz, k, n) {
	l = "bench\tBenchmarkBinderLoad10k"; f = "bench\tBenchmarkBinderLoad10kFullCheck"; o = "bench\tBenchmarkBinderLoad10kFullCheckOneCPU"
	if (l in ns) {
		printf "binder load of 10,000: %s (goal <= 0.3 s), %.2f cpu-s", human(ns[l]), cm[l, "cpu-s/op"]
		if (o in ns) { printf "; / every check on one CPU (in-tree baseline): %.2f (%s, %.2f cpu-s)", ns[l] / ns[o], human(ns[o]), cm[o, "cpu-s/op"] }
		if (f in ns) { printf "; / full check: %.2f", ns[l] / ns[f] }
		print ""
	}
	d10 = "bench\tBenchmarkDueNone/10k"; d100 = "bench\tBenchmarkDueNone/100k"
	if (d100 in ns) {
		printf "Due with none due at 100,000: %s (goal <= 1 ms)", human(ns[d100])
		if (d10 in ns && ns[d10] > 0) { printf "; 100k / 10k: %.2f (1 means it does not grow)", ns[d100] / ns[d10] }
		print ""
	}
	split("1k 10k 100k", sz, " ")
	for (k = 1; k <= 3; k++) {
		n = "bench\tBenchmarkDaemonStart/" sz[k]
		if ((n, "ready-s") in cm) {
			printf "daemon start, %4s certificates: ready %.3f s, VmRSS %.1f MiB, RssAnon %.1f MiB, VmHWM %.1f MiB; after one /metrics scrape: VmRSS %.1f MiB, RssAnon %.1f MiB\n", sz[k], cm[n, "ready-s"], cm[n, "rss-kB"] / 1024, cm[n, "anon-kB"] / 1024, cm[n, "hwm-kB"] / 1024, cm[n, "scraped-rss-kB"] / 1024, cm[n, "scraped-anon-kB"] / 1024
		}
	}
	d1 = "bench\tBenchmarkDaemonStart/1k"; d10 = "bench\tBenchmarkDaemonStart/10k"
	if ((d1, "anon-kB") in cm && (d10, "anon-kB") in cm) {
		printf "daemon memory per certificate (10k - 1k) / 9,000 (goal < 10 KiB): RssAnon %.2f KiB at start, %.2f KiB after a /metrics scrape; VmRSS %.2f KiB at start\n", (cm[d10, "anon-kB"] - cm[d1, "anon-kB"]) / 9000, (cm[d10, "scraped-anon-kB"] - cm[d1, "scraped-anon-kB"]) / 9000, (cm[d10, "rss-kB"] - cm[d1, "rss-kB"]) / 9000
	}
}
' "$out"

if [[ $status -ne 0 ]]; then
	echo "run.sh: go test failed (exit $status); see $out" >&2
fi
exit "$status"
