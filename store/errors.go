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

	// ErrNoActiveVersion is returned when a certificate has no active version.
	ErrNoActiveVersion = errors.New("no active version")

	// ErrReadOnly is returned by writes on a store opened read-only.
	ErrReadOnly = errors.New("store opened read-only")

	// ErrUnreachable is returned when the store's servers (etcd) cannot be
	// reached.
	ErrUnreachable = errors.New("store unreachable")
)
