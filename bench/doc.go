// Package bench holds certctl's whole-system benchmarks (loading a store of
// 10,000 certificates into a binder, re-syncing it; on etcd: commit → swap
// propagation across three helper processes, loading 10,000 certificates
// and due scans, each against a bbolt baseline; the facade: the first
// handshake for an on-demand name against Pebble, and handshakes on a held
// name through a Manager's TLSConfig against a static tls.Config; bulk
// issuance with the certctl binary against Pebble at 0 and 1 s of CA
// latency: 8 overlapping `certctl issue` processes over 50 names against
// one `renew --workers 8`, and `renew --all --force` at 4 to 32 workers) and
// bench/run.sh, which runs every benchmark of the repository and summarizes
// them. peers_test.go measures certctl's peers, not certctl: lego v4 as a
// library (8 goroutines, 50 new names) and certbot (one process per name,
// only when certbot is on PATH) against the same Pebble and CA latency as
// BenchmarkApply50New, for run.sh's same-run ratios. It has no code outside
// its tests.
package bench
