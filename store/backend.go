package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Backend is a [Store] as the CLI, the daemon, a binder and library users
// open it with [OpenURL]: the records, the shared values of a fleet, the
// batch loader of a binder, and a Close. Both backends (bbolt and etcd)
// implement it.
type Backend interface {
	Store
	Shared
	// LoadActive reads the active versions of the certificates called
	// names, in the order of names, leaving out names without a record or
	// without an active version.
	LoadActive(ctx context.Context, names []string) ([]ActivePEM, error)
	// Each calls fn with every certificate, sorted by name, decoded one at a
	// time: what List returns without holding every record at once. fn runs
	// during the read (on bbolt, inside its read transaction, so writers
	// wait): it must be quick and must not use the store. An error from fn
	// stops the walk and is returned, wrapped.
	Each(ctx context.Context, fn func(*Certificate) error) error
	// Location says where the store is, for messages: a file path or an
	// etcd URL without credentials.
	Location() string
	// Close releases the backend's connections and its locks' sessions.
	// The bbolt backend holds nothing open; its Close does nothing.
	Close() error
}

// Shared is a small key-value space next to the records that every process
// using the store sees: pending challenge answers of a fleet, TLS session
// ticket keys. Keys are short paths such as "acme-http/TOKEN". Values are
// small (well under 64 KiB).
type Shared interface {
	// GetShared returns the value at key and its revision, or an error
	// wrapping [ErrNotFound] when there is none or it expired.
	GetShared(ctx context.Context, key string) (value []byte, rev uint64, err error)
	// PutShared writes value at key if the stored revision equals rev (0:
	// the key must not exist or must have expired), otherwise it fails with
	// [ErrConflict] and writes nothing. A ttl above zero makes the value
	// expire after about that long (on etcd, with a lease); zero keeps it.
	// It returns the new revision. Shared writes do not change the
	// generation of the records.
	PutShared(ctx context.Context, key string, value []byte, rev uint64, ttl time.Duration) (uint64, error)
	// DeleteShared removes key; a missing key is no error.
	DeleteShared(ctx context.Context, key string) error
}

// Watcher is implemented by a backend that pushes changes (etcd). Watch
// returns a channel that receives a value soon after any certificate is
// written or deleted by any process after Watch returned, coalescing
// bursts (the channel has a buffer of one); a value may also come without
// a change. After a disconnect the watch resumes where it stopped and
// misses nothing; when it cannot (etcd compacted past the revision it had
// reached) it starts again from the present and also sends a value, so the
// reader re-reads what it follows ([Store.Revisions]) and misses nothing.
// The channel is closed when ctx is done (or the backend is closed). The
// bbolt backend has no Watch: readers poll [Store.Generation].
type Watcher interface {
	Watch(ctx context.Context) <-chan struct{}
}

// ErrLockLost is returned by a write made under a per-certificate lock that
// this process no longer holds: its etcd lease expired (a long pause, a
// partition) and another node may hold the lock now. Nothing was written.
var ErrLockLost = errors.New("certificate lock lost (lease expired); write refused")

// OpenURL opens the store that u names: a file path (or file:///path) for
// the bbolt backend, or etcd://host:port[,host:port...]/prefix for the etcd
// backend (etcds:// for TLS to etcd; the path is the key prefix, "/certctl"
// when empty). ctx bounds connecting, not the life of the store.
func OpenURL(ctx context.Context, u string, opts *Options) (Backend, error) {
	switch {
	case u == "":
		return nil, &dirError{msg: "store: empty path"}
	case strings.HasPrefix(u, "etcd://"), strings.HasPrefix(u, "etcds://"):
		return openEtcd(ctx, u, opts)
	case strings.HasPrefix(u, "file://"):
		return Open(strings.TrimPrefix(u, "file://"), opts)
	case strings.Contains(u, "://"):
		return nil, fmt.Errorf("store %s: unknown scheme (want a file path, file://, etcd:// or etcds://)", u)
	}
	return Open(u, opts)
}

// Location returns the store file's path.
func (db *DB) Location() string { return db.path }

// Close does nothing: a DB keeps no file open between calls.
func (db *DB) Close() error { return nil }

var _ Backend = (*DB)(nil)
