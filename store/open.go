package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sync/semaphore"

	"github.com/certctl/certctl/internal/winacl"
)

// DefaultLockTimeout is how long an operation waits for the store file's lock
// when [Options.LockTimeout] is zero.
const DefaultLockTimeout = 5 * time.Second

// Options configure a store, [DB] or [Etcd]. A nil *Options means all
// defaults.
type Options struct {
	// LockTimeout bounds how long an operation waits for the store file's
	// lock before failing with [ErrBusy]. Zero means [DefaultLockTimeout].
	LockTimeout time.Duration
	// Logger receives warnings (a store file mode that was too broad, close
	// errors). Nil discards them.
	Logger *slog.Logger
	// ReadOnly opens an existing store for reading only: Open neither creates
	// nor initializes it, and writes fail with [ErrReadOnly]. Per-certificate
	// locks still work when the lock directory can be created or exists.
	ReadOnly bool
	// Now returns the current time, used for Created and Updated. Nil means
	// time.Now.
	Now func() time.Time

	// SealKey, when set, is the store key (32 random bytes, see
	// [ReadSealKeyFile]): every private key (of every version and every
	// account) is written sealed with it, and keys it sealed are opened on
	// read. Without it keys are written in plaintext, and sealed ones stay
	// sealed on read: records are readable, but [Version.Key] and
	// [Account.Key] fail with [ErrSealed] (or [ErrWrongKey] for a key
	// sealed by another store key).
	SealKey []byte
	// UnsealKeys are further store keys that open sealed keys on read but
	// never seal: the old key while converting a store with [Reseal].
	UnsealKeys [][]byte

	// The settings below are used by the etcd backend ([OpenEtcd]) only.

	// EtcdCA is a PEM file of the CAs that sign etcd's server certificates;
	// "" means the system's roots. Setting it (or EtcdCert) turns TLS on
	// even for an etcd:// URL.
	EtcdCA string
	// EtcdCert and EtcdKey are the PEM files of a client certificate and
	// its key, for an etcd that authenticates clients by certificate. Both
	// or neither.
	EtcdCert, EtcdKey string
	// EtcdUsername and EtcdPassword log in to an etcd with authentication
	// on. They override credentials given in the URL.
	EtcdUsername, EtcdPassword string
	// LockTTL is the lease of the per-certificate locks: a process that
	// stops renewing it (it died, paused or lost etcd) loses its locks
	// after about that long. Zero means [DefaultLockTTL]; it is rounded up
	// to whole seconds.
	LockTTL time.Duration
	// DialTimeout bounds connecting to etcd at open. Every later request
	// to etcd waits at most three times as long before failing with
	// [ErrUnreachable] (waiting for a lock is bounded by its ctx only).
	// Zero means [DefaultDialTimeout].
	DialTimeout time.Duration
}

// Defaults of the etcd settings of [Options].
const (
	// DefaultLockTTL is the lease of per-certificate locks on etcd.
	DefaultLockTTL = 30 * time.Second
	// DefaultDialTimeout bounds connecting to etcd.
	DefaultDialTimeout = 5 * time.Second
)

// DB is the bbolt [Store]: one file on the local machine, shared by every
// certctl process there. It keeps no file open between calls: each operation
// opens the file, runs one transaction and closes it, so no process holds the
// store while it talks to a CA or sits idle. Readers share the file; a writer
// has it alone; a writer waiting for the file is not overtaken by new
// readers. Waiting is bounded by [Options.LockTimeout], after which an
// operation fails with [ErrBusy].
//
// Next to the store file, the directory <store>.locks (0700, created on
// demand) holds the per-certificate lock files <name>.lock and the file
// .store that orders readers and writers. DB is safe for concurrent use.
type DB struct {
	path     string
	lockDir  string
	timeout  time.Duration
	log      *slog.Logger
	readOnly bool
	now      func() time.Time
	// gate orders the goroutines of this process that use the same file, so
	// they queue in memory instead of polling bbolt's file lock.
	gate *semaphore.Weighted
	// useTurnstile is set once Open has checked the file (see tx).
	useTurnstile bool
	// seal seals and opens private keys; nil without a store key.
	seal *sealer
}

var _ Store = (*DB)(nil)

// dirError reports an unusable store directory; it matches [ErrStoreDir] and
// the underlying error, if any.
type dirError struct {
	msg string
	err error
}

func (e *dirError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *dirError) Unwrap() []error {
	if e.err != nil {
		return []error{ErrStoreDir, e.err}
	}
	return []error{ErrStoreDir}
}

// Open returns the bbolt store at path, creating it (mode 0600) with its
// buckets if it does not exist. The directory must exist ([ErrStoreDir]
// otherwise). A file that is not a certctl store is refused with
// [ErrNotStore] and left untouched; a store written by a newer schema with
// [ErrSchemaTooNew]. A store file readable by others is narrowed to 0600.
// Open does not keep the file open: the returned DB needs no Close. Like
// every operation, Open waits at most [Options.LockTimeout] for the file.
func Open(path string, opts *Options) (*DB, error) {
	if opts == nil {
		opts = &Options{}
	}
	if path == "" {
		return nil, &dirError{msg: "store: empty path"}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	db := &DB{
		path:     abs,
		lockDir:  abs + ".locks",
		timeout:  opts.LockTimeout,
		log:      opts.Logger,
		readOnly: opts.ReadOnly,
		now:      opts.Now,
	}
	if db.timeout <= 0 {
		db.timeout = DefaultLockTimeout
	}
	if db.log == nil {
		db.log = slog.New(slog.DiscardHandler)
	}
	if db.now == nil {
		db.now = time.Now
	}
	if db.seal, err = newSealer(opts); err != nil {
		return nil, fmt.Errorf("store %s: %w", abs, err)
	}
	g, _ := gates.LoadOrStore(abs, semaphore.NewWeighted(gateWeight))
	db.gate = g.(*semaphore.Weighted)

	dir := filepath.Dir(abs)
	switch fi, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &dirError{msg: fmt.Sprintf("store %s: directory %s does not exist", abs, dir)}
	case err != nil:
		return nil, &dirError{msg: fmt.Sprintf("store %s: directory %s", abs, dir), err: err}
	case !fi.IsDir():
		return nil, &dirError{msg: fmt.Sprintf("store %s: %s is not a directory", abs, dir)}
	}

	ctx := context.Background()
	fi, err := os.Lstat(abs)
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		// A link could point anywhere an attacker chose: certctl would make
		// that file a store and narrow its mode.
		return nil, fmt.Errorf("store %s: is a symbolic link; give the path of the store file itself: %w", abs, ErrUnsafePath)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Mode().IsRegular() && fi.Size() == 0):
		if db.readOnly {
			return nil, fmt.Errorf("store %s: does not exist or is empty (opened read-only): %w", abs, fs.ErrNotExist)
		}
		if err := db.create(); err != nil {
			return nil, err
		}
		if err := db.initialize(ctx); err != nil {
			return nil, err
		}
		db.useTurnstile = true
		return db, nil
	case err != nil:
		return nil, fmt.Errorf("store %s: %w", abs, err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("store %s: not a regular file: %w", abs, ErrNotStore)
	}

	// An existing, non-empty file: check it read-only before anything else,
	// so a file that is not ours is never written to.
	needInit, err := db.check(ctx)
	if err != nil {
		return nil, err
	}
	// Windows has no POSIX modes (every writable file shows as 0666): the
	// access control list set when the store was created guards it there.
	if perm := fi.Mode().Perm(); perm&^0o600 != 0 && runtime.GOOS != "windows" {
		if err := os.Chmod(abs, 0o600); err != nil {
			db.log.Warn("store file mode too broad and could not be narrowed", "path", abs, "mode", perm.String(), "err", err)
		} else {
			db.log.Warn("store file mode was too broad; narrowed to 0600", "path", abs, "mode", perm.String())
		}
	}
	if needInit {
		if db.readOnly {
			return nil, fmt.Errorf("store %s: not initialized (opened read-only): %w", abs, ErrNotStore)
		}
		if err := db.initialize(ctx); err != nil {
			return nil, err
		}
	}
	db.useTurnstile = true
	return db, nil
}

// Path returns the absolute path of the store file.
func (db *DB) Path() string { return db.path }

// create makes the empty store file with mode 0600.
func (db *DB) create() error {
	f, err := openNoFollow(db.path, os.O_RDWR|os.O_CREATE)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return &dirError{msg: fmt.Sprintf("store %s: cannot create it in %s", db.path, filepath.Dir(db.path)), err: err}
		}
		return fmt.Errorf("store %s: creating: %w", db.path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store %s: creating: %w", db.path, err)
	}
	// The umask may have narrowed the mode further; make it exactly 0600.
	if err := os.Chmod(db.path, 0o600); err != nil {
		return fmt.Errorf("store %s: creating: %w", db.path, err)
	}
	if err := winacl.Restrict(db.path); err != nil { // Windows: SYSTEM, Administrators, this user
		return fmt.Errorf("store %s: creating: %w", db.path, err)
	}
	return nil
}

// check inspects an existing file read-only. It reports whether buckets are
// missing (a bbolt file that was created but not yet initialized).
func (db *DB) check(ctx context.Context) (needInit bool, err error) {
	err = db.tx(ctx, false, func(tx *bolt.Tx) error {
		empty := true
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
		if empty {
			needInit = true
			return nil
		}
		if err := db.checkSchema(tx.Bucket(bucketMeta)); err != nil {
			return err
		}
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				needInit = true
			}
		}
		return nil
	})
	return needInit, err
}

// checkSchema verifies the schema version kept in meta.
func (db *DB) checkSchema(meta *bolt.Bucket) error {
	if meta == nil {
		return fmt.Errorf("store %s: no meta bucket: %w", db.path, ErrNotStore)
	}
	v := meta.Get(keySchema)
	if len(v) != 8 {
		return fmt.Errorf("store %s: no schema version: %w", db.path, ErrNotStore)
	}
	if s := binary.BigEndian.Uint64(v); s > SchemaVersion {
		return fmt.Errorf("store %s: schema version %d, this certctl supports up to %d; upgrade certctl: %w",
			db.path, s, SchemaVersion, ErrSchemaTooNew)
	}
	return nil
}

// initialize creates missing buckets and the schema version.
func (db *DB) initialize(ctx context.Context) error {
	return db.tx(ctx, true, func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("store %s: creating bucket %s: %w", db.path, name, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		if meta.Get(keySchema) == nil {
			if err := meta.Put(keySchema, u64(SchemaVersion)); err != nil {
				return err
			}
		}
		if err := db.checkSchema(meta); err != nil {
			return err
		}
		if meta.Get(keyGeneration) == nil {
			return meta.Put(keyGeneration, u64(0))
		}
		return nil
	})
}
