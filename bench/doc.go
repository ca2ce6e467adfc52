// Package bench holds certctl's whole-system benchmarks (loading a store of
// 10,000 certificates into a binder, re-syncing it; on etcd: commit → swap
// propagation across three helper processes, loading 10,000 certificates
// and due scans, each against a bbolt baseline; the facade: the first
// handshake for an on-demand name against Pebble, and handshakes on a held
// name through a Manager's TLSConfig against a static tls.Config) and
// bench/run.sh, which runs every benchmark of the repository and summarizes
// them. It has no code outside its tests.
package bench
