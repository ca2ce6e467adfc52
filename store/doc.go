// Package store holds the persisted records of certctl and their embedded
// bbolt backend.
//
// Four kinds of value make up the package: [Certificate] (one managed
// certificate with its [Version]s, ARI and renewal state), [Account] (one
// ACME account per directory and email), the [Store] interface that every
// backend implements, and [DB], the bbolt implementation opened with [Open].
// [DB.LoadActive] reads the active versions of many certificates at once as
// [ActivePEM] values, for a hot-reload binder (the certctl package adapts a
// DB to one; this package imports no other certctl package).
//
// A [DB] never keeps the database file open between calls: every operation
// opens the file, runs one transaction and closes it again, so the CLI and a
// running daemon share one store. Writes are compare-and-swap on a record's
// [Certificate.Revision]; [Update] wraps the read-modify-write loop.
// Per-certificate locks ([Store.Lock]) exclude other goroutines and other
// processes alike.
//
// The bbolt backend is laid out by concern: open.go opens a store and checks
// it (schema, file mode, a file that is not a store); tx.go runs one
// transaction behind the in-process gate and the cross-process turnstile;
// buckets.go is the stored layout (buckets, due index, encodings); crud.go
// reads and writes certificates and accounts; load.go is the batch loader;
// lock.go holds the per-certificate locks; path.go the default store path.
// bbolt types never leave the package.
package store
