package store

import "errors"

var (
	// ErrNotFound is returned when a certificate or account does not exist.
	ErrNotFound = errors.New("not found")

	// ErrConflict is returned by Put when the stored revision differs from the
	// one the caller read: someone else wrote the record in between.
	ErrConflict = errors.New("revision conflict: record changed since it was read")

	// ErrBusy is returned when the store file stays locked by another holder
	// for longer than the lock timeout.
	ErrBusy = errors.New("store busy: another process holds it")

	// ErrNotStore is returned when a file exists at the store path but is not
	// a certctl store. The file is left untouched.
	ErrNotStore = errors.New("not a certctl store")

	// ErrSchemaTooNew is returned when the store was written by a newer
	// certctl whose schema this version does not understand.
	ErrSchemaTooNew = errors.New("store schema is newer than this certctl supports")

	// ErrStoreDir is returned when the directory that should hold the store
	// is missing, not a directory or not writable.
	ErrStoreDir = errors.New("store directory unusable")

	// ErrInvalidName is returned for a certificate name that cannot be used as
	// a key or a lock file name.
	ErrInvalidName = errors.New("invalid certificate name")

	// ErrInvalidRecord is returned by Put for a record that is inconsistent,
	// such as an active version that is not among its versions.
	ErrInvalidRecord = errors.New("invalid record")

	// ErrNoKey is returned when a private key is needed (to export it, to
	// serve it) but the store holds none: the certificate was ordered with
	// the user's own CSR and its key is held elsewhere.
	ErrNoKey = errors.New("no private key in the store: it is held elsewhere (certificate ordered with a CSR)")

	// ErrNoActiveVersion is returned when a certificate has no active version.
	ErrNoActiveVersion = errors.New("no active version")

	// ErrReadOnly is returned by writes on a store opened read-only.
	ErrReadOnly = errors.New("store opened read-only")

	// ErrUnreachable is wrapped by the errors of the etcd backend when etcd
	// cannot be reached or does not answer in time, at open or later, so
	// that callers can tell an outage from a refused operation.
	ErrUnreachable = errors.New("store unreachable")
)

// ErrCorrupt is returned when the store file's pages are damaged (a disk
// fault, a truncated copy). Nothing is written to a corrupted store.
var ErrCorrupt = errors.New("store file corrupted")

// ErrUnsafePath is returned for a store file that is a symbolic link, or a
// lock directory that is a link, belongs to another user or is writable by
// others: using it would let another user redirect or block certctl.
var ErrUnsafePath = errors.New("unsafe store path")

// ErrSealed is returned when a private key is needed (to export it, to
// serve it, to sign with it) but the store keeps it sealed and no store
// key was given ([Options.SealKey]). Records stay readable without it.
var ErrSealed = errors.New("store is sealed: give the store key")

// ErrWrongKey is returned when a sealed private key is needed and the
// store key given is not the one that sealed it.
var ErrWrongKey = errors.New("wrong store key: it did not seal this key")

// ErrSealDamaged is returned for a sealed private key that the right store
// key does not open: it was damaged, or copied from another record or
// version (a key is bound to its record).
var ErrSealDamaged = errors.New("sealed key damaged or moved from another record")

// ErrBadSealKey is returned for a store key that is not 32 bytes, raw, in
// hex or in base64.
var ErrBadSealKey = errors.New("invalid store key")
