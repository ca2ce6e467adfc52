// Package store holds the persisted records of certctl and their two
// backends: bbolt embedded on one machine, and etcd for a fleet.
//
// The values of the package: [Certificate] (one managed certificate with
// its [Version]s, ARI and renewal state), [Account] (one ACME account per
// directory and email), the [Store] interface whose contract every backend
// keeps, and [Backend], what [OpenURL] returns: a Store plus [Shared] (a
// small compare-and-swap key-value space with expiry, for challenge answers
// a fleet shares), a batch loader (LoadActive, returning [ActivePEM]
// values for a hot-reload binder; this package imports no other certctl
// package), a one-record-at-a-time walk (Each), Location and Close. Put
// marks a record whose active chain it found signed link by link
// (chaincheck.go), which LoadActive reports as [ActivePEM].ChainVerified.
// [DB.PutAll] writes many records in one transaction. [DB] is the bbolt backend, opened with
// [Open]; [Etcd] the etcd backend, opened with [OpenEtcd], which also
// implements [Watcher] (a push of changes; bbolt readers poll
// [Store.Generation]).
//
// The etcd backend keeps, under its key prefix P (an etcd:// URL's path):
// P/certs/NAME (the same JSON as bbolt), P/revs/NAME (its revision),
// P/next/NAME and P/due/TIME/NAME (the renewal index), P/accounts/...,
// P/meta/generation and P/meta/schema, P/locks/NAME/LEASE (lock keys) and
// P/shared/KEY. Each write is one etcd transaction, compare-and-swap on the
// generation and the record's revision; writes made under a lock are
// fenced by the lock key ([ErrLockLost]). Errors caused by an etcd that
// cannot be reached wrap [ErrUnreachable].
//
// Private keys (and shared values) can be sealed at rest with a store key
// ([Options.SealKey], read with [ReadSealKeyFile] or [SealKeyFromEnv]):
// AES-256-GCM bound to the record, in both backends; records stay readable
// without the key, and [Version.Key] and [Account.Key] then fail with
// [ErrSealed] (or [ErrWrongKey]). [Reseal] converts a store in place
// (seal, unseal, rekey). A sealed store carries a seal mark (meta "seal";
// P/meta/seal on etcd) that refuses plaintext writes without the key.
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
// lock.go holds the per-certificate locks; path.go the default store path;
// shared.go the shared values; seal.go seals keys (both backends) and
// reseal.go converts stores. The etcd backend: etcd.go (opening, URLs,
// errors), etcd_crud.go (records, accounts, shared values), etcd_lock.go
// (locks and fencing), etcd_watch.go. bbolt and etcd types never leave the
// package.
package store
