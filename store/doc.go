// Package store holds the persisted records of certctl and their embedded
// bbolt backend.
//
// Four kinds of value make up the package: [Certificate] (one managed
// certificate with its [Version]s, ARI and renewal state), [Account] (one
// ACME account per directory and email), the [Store] interface that every
// backend implements, and [DB], the bbolt implementation opened with [Open].
//
// A [DB] never keeps the database file open between calls: every operation
// opens the file, runs one transaction and closes it again, so the CLI and a
// running daemon share one store. Writes are compare-and-swap on a record's
// [Certificate.Revision]; [Update] wraps the read-modify-write loop.
// Per-certificate locks ([Store.Lock]) exclude other goroutines and other
// processes alike.
package store
