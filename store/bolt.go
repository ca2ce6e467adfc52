package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"golang.org/x/sync/semaphore"
)

// DefaultLockTimeout is how long an operation waits for the store file's lock
// when [Options.LockTimeout] is zero.
const DefaultLockTimeout = 5 * time.Second

// Options configure a [DB]. A nil *Options means all defaults.
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
}

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
}

var _ Store = (*DB)(nil)

// gateWeight is the weight a writer takes from a gate; a reader takes 1.
const gateWeight = 1 << 30

// gates holds one gate per absolute store path, shared by every DB of this
// process that opens that path.
var gates sync.Map // string -> *semaphore.Weighted

// Bucket names and meta keys of the stored layout.
var (
	bucketMeta     = []byte("meta")     // schema, generation
	bucketCerts    = []byte("certs")    // name -> JSON Certificate
	bucketRevs     = []byte("revs")     // name -> 8-byte revision
	bucketDue      = []byte("due")      // 8-byte sortable Renewal.Next + name -> nil
	bucketNext     = []byte("next")     // name -> 8-byte sortable Renewal.Next (to find its due key)
	bucketAccounts = []byte("accounts") // directory + "\x00" + email -> JSON Account

	keySchema     = []byte("schema")
	keyGeneration = []byte("generation")
)

// turnstileName is the file in the lock directory that orders readers and
// writers of the store across processes. It cannot clash with a
// certificate's lock file, which always ends in ".lock".
const turnstileName = ".store"

// allBuckets lists every bucket a store has.
var allBuckets = [][]byte{bucketMeta, bucketCerts, bucketRevs, bucketDue, bucketNext, bucketAccounts}

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
	fi, err := os.Stat(abs)
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
	if perm := fi.Mode().Perm(); perm&^0o600 != 0 {
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
	f, err := os.OpenFile(db.path, os.O_RDWR|os.O_CREATE, 0o600)
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

// openNoCreate opens files for bbolt without O_CREATE, so an operation never
// recreates a store file that was removed after Open.
func openNoCreate(name string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag&^os.O_CREATE, perm)
}

// tx opens the file, runs fn in one transaction and closes the file again.
// Readers share the file; a writer has it alone. Waiting for either is bounded
// by the lock timeout and by ctx.
func (db *DB) tx(ctx context.Context, write bool, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	deadline := time.Now().Add(db.timeout)
	gctx, cancel := context.WithDeadline(ctx, deadline)
	weight := int64(1)
	if write {
		weight = gateWeight
	}
	err := db.gate.Acquire(gctx, weight)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: %w", db.path, ErrBusy)
	}
	defer db.gate.Release(weight)

	// Pass the turnstile: a writer holds it for its whole transaction, a
	// reader only until it has opened the file. So once a writer waits, no new
	// reader of any process gets in ahead of it: bbolt's own file lock would
	// let a stream of overlapping readers starve writers.
	releaseTurnstile, err := db.turnstile(ctx, deadline)
	if err != nil {
		return err
	}
	turnstileHeld := true
	defer func() {
		if turnstileHeld {
			releaseTurnstile()
		}
	}()

	bopts := &bolt.Options{
		Timeout:      max(time.Until(deadline), time.Millisecond),
		ReadOnly:     !write,
		OpenFile:     openNoCreate,
		NoStatistics: true,
	}
	if tuneBolt != nil {
		tuneBolt(bopts)
	}
	bdb, err := bolt.Open(db.path, 0o600, bopts)
	if err != nil {
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return fmt.Errorf("%s: %w", db.path, ErrBusy)
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
			return fmt.Errorf("store %s: %w (%v)", db.path, ErrNotStore, err)
		}
		return fmt.Errorf("store %s: opening: %w", db.path, err)
	}
	defer func() {
		if err := bdb.Close(); err != nil {
			db.log.Warn("closing store", "path", db.path, "err", err)
		}
	}()
	if write {
		return bdb.Update(fn)
	}
	releaseTurnstile()
	turnstileHeld = false
	return bdb.View(fn)
}

// turnstile takes the store's turnstile lock, polling until deadline
// ([ErrBusy]) or until ctx is done. Where the turnstile file cannot be
// created (a read-only directory), it goes without: readers then simply
// share the file as bbolt allows.
func (db *DB) turnstile(ctx context.Context, deadline time.Time) (release func(), err error) {
	if !db.useTurnstile {
		return func() {}, nil
	}
	p := filepath.Join(db.lockDir, turnstileName)
	f, err := openLockFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(db.lockDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return func() {}, nil
		}
		f, err = openLockFile(p)
	}
	if err != nil {
		db.log.Debug("store turnstile unavailable", "path", p, "err", err)
		return func() {}, nil
	}
	release = func() {
		if err := unlockFile(f); err != nil {
			db.log.Warn("releasing store turnstile", "path", p, "err", err)
		}
	}
	wait := 200 * time.Microsecond
	for {
		ok, err := tryLockFD(f)
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("store %s: turnstile: %w", db.path, err)
		}
		if ok {
			return release, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			_ = f.Close()
			return nil, fmt.Errorf("%s: %w", db.path, ErrBusy)
		}
		t := time.NewTimer(min(wait, left))
		select {
		case <-ctx.Done():
			t.Stop()
			_ = f.Close()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 10*time.Millisecond)
	}
}

// tuneBolt, when set (by benchmarks), adjusts the bbolt options of every
// open. The defaults were kept after measuring the alternatives: see
// BenchmarkBoltOptions.
var tuneBolt func(*bolt.Options)

// buckets are the buckets of one transaction.
type buckets struct {
	meta, certs, revs, due, next, accounts *bolt.Bucket
}

// load fetches the buckets of tx and checks the schema.
func (db *DB) load(tx *bolt.Tx) (*buckets, error) {
	b := &buckets{
		meta:     tx.Bucket(bucketMeta),
		certs:    tx.Bucket(bucketCerts),
		revs:     tx.Bucket(bucketRevs),
		due:      tx.Bucket(bucketDue),
		next:     tx.Bucket(bucketNext),
		accounts: tx.Bucket(bucketAccounts),
	}
	if err := db.checkSchema(b.meta); err != nil {
		return nil, err
	}
	if b.certs == nil || b.revs == nil || b.due == nil || b.next == nil || b.accounts == nil {
		return nil, fmt.Errorf("store %s: buckets missing: %w", db.path, ErrNotStore)
	}
	return b, nil
}

// view runs fn in a read transaction.
func (db *DB) view(ctx context.Context, fn func(*buckets) error) error {
	return db.tx(ctx, false, func(tx *bolt.Tx) error {
		b, err := db.load(tx)
		if err != nil {
			return err
		}
		return fn(b)
	})
}

// update runs fn in a write transaction and bumps the generation with it.
// fn receives the generation the write will produce.
func (db *DB) update(ctx context.Context, fn func(b *buckets, gen uint64) error) error {
	if db.readOnly {
		return fmt.Errorf("%s: %w", db.path, ErrReadOnly)
	}
	return db.tx(ctx, true, func(tx *bolt.Tx) error {
		b, err := db.load(tx)
		if err != nil {
			return err
		}
		gen := b.generation() + 1
		if err := fn(b, gen); err != nil {
			return err
		}
		return b.meta.Put(keyGeneration, u64(gen))
	})
}

func (b *buckets) generation() uint64 { return getU64(b.meta.Get(keyGeneration)) }

func (b *buckets) revision(name string) uint64 { return getU64(b.revs.Get([]byte(name))) }

// cert decodes the record of name; nil if absent.
func (b *buckets) cert(name string) (*Certificate, error) {
	v := b.certs.Get([]byte(name))
	if v == nil {
		return nil, nil
	}
	return b.decode(name, v)
}

// decode unmarshals a stored record (copying it out of the mmap) and sets
// its revision.
func (b *buckets) decode(name string, v []byte) (*Certificate, error) {
	c := new(Certificate)
	if err := json.Unmarshal(v, c); err != nil {
		return nil, fmt.Errorf("%s: decoding record: %w", name, err)
	}
	c.Revision = b.revision(name)
	return c, nil
}

// Get returns the certificate called name, or an error wrapping
// [ErrNotFound].
func (db *DB) Get(ctx context.Context, name string) (*Certificate, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	var c *Certificate
	err := db.view(ctx, func(b *buckets) (err error) {
		c, err = b.cert(name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: reading: %w", name, err)
	}
	if c == nil {
		return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	return c, nil
}

// List returns every certificate sorted by name.
func (db *DB) List(ctx context.Context) ([]*Certificate, error) {
	var out []*Certificate
	err := db.view(ctx, func(b *buckets) error {
		return b.certs.ForEach(func(k, v []byte) error {
			c, err := b.decode(string(k), v)
			if err != nil {
				return err
			}
			out = append(out, c)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("listing: %w", err)
	}
	return out, nil
}

// Due returns the certificates whose Renewal.Next is at or before before,
// ordered by Renewal.Next then name. It scans only the due part of the index.
func (db *DB) Due(ctx context.Context, before time.Time) ([]*Certificate, error) {
	limit := sortableTime(before)
	var out []*Certificate
	err := db.view(ctx, func(b *buckets) error {
		cur := b.due.Cursor()
		for k, _ := cur.First(); len(k) > 8; k, _ = cur.Next() {
			if binary.BigEndian.Uint64(k[:8]) > limit {
				break
			}
			name := string(k[8:])
			c, err := b.cert(name)
			if err != nil {
				return err
			}
			if c == nil {
				return fmt.Errorf("%s: indexed as due but has no record: %w", name, ErrInvalidRecord)
			}
			out = append(out, c)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing due: %w", err)
	}
	return out, nil
}

// NextDue returns the earliest Renewal.Next of any certificate, and false
// when none is scheduled. It reads one index entry.
func (db *DB) NextDue(ctx context.Context) (time.Time, bool, error) {
	var (
		at time.Time
		ok bool
	)
	err := db.view(ctx, func(b *buckets) error {
		k, _ := b.due.Cursor().First()
		if len(k) > 8 {
			n := int64(binary.BigEndian.Uint64(k[:8]) ^ (1 << 63))
			at, ok = time.Unix(0, n), true
		}
		return nil
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due: %w", err)
	}
	return at, ok, nil
}

// Put writes c if the stored revision equals c.Revision (0: c must not exist
// yet), else returns an error wrapping [ErrConflict]. On success it sets
// c.Revision, c.Updated (and c.Created if zero) and trims c.Versions to
// [MaxVersions]; on failure c is unchanged.
func (db *DB) Put(ctx context.Context, c *Certificate) error {
	if err := c.validate(); err != nil {
		return err
	}
	rec := *c
	if len(rec.Versions) > MaxVersions {
		rec.Versions = append([]Version(nil), c.Versions...)
		rec.trimVersions()
	}
	now := db.now().UTC()
	if rec.Created.IsZero() {
		rec.Created = now
	}
	rec.Updated = now
	data, err := json.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("%s: encoding record: %w", c.Name, err)
	}
	var rev uint64
	err = db.update(ctx, func(b *buckets, gen uint64) error {
		if stored := b.revision(c.Name); stored != c.Revision {
			return fmt.Errorf("stored revision %d, caller has %d: %w", stored, c.Revision, ErrConflict)
		}
		rev = gen
		return b.write([]byte(c.Name), data, rec.Renewal.Next, gen)
	})
	if err != nil {
		return fmt.Errorf("%s: writing: %w", c.Name, err)
	}
	c.Versions = rec.Versions
	c.Created = rec.Created
	c.Updated = rec.Updated
	c.Revision = rev
	return nil
}

// write stores one encoded record with its revision and due index entry.
func (b *buckets) write(key, data []byte, next time.Time, rev uint64) error {
	if err := b.unindex(key); err != nil {
		return err
	}
	if !next.IsZero() {
		t := u64(sortableTime(next))
		if err := b.due.Put(append(t, key...), nil); err != nil {
			return err
		}
		if err := b.next.Put(key, t); err != nil {
			return err
		}
	}
	if err := b.certs.Put(key, data); err != nil {
		return err
	}
	return b.revs.Put(key, u64(rev))
}

// unindex removes the due index entry of key, if any.
func (b *buckets) unindex(key []byte) error {
	old := b.next.Get(key)
	if old == nil {
		return nil
	}
	if err := b.due.Delete(append(bytes.Clone(old), key...)); err != nil {
		return err
	}
	return b.next.Delete(key)
}

// Delete removes the certificate called name, or returns an error wrapping
// [ErrNotFound]. Its lock file, if any, is left in place.
func (db *DB) Delete(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	key := []byte(name)
	err := db.update(ctx, func(b *buckets, _ uint64) error {
		if b.certs.Get(key) == nil {
			return ErrNotFound
		}
		if err := b.unindex(key); err != nil {
			return err
		}
		if err := b.certs.Delete(key); err != nil {
			return err
		}
		return b.revs.Delete(key)
	})
	if err != nil {
		return fmt.Errorf("%s: deleting: %w", name, err)
	}
	return nil
}

// accountKey is the key of the account for (directory, email).
func accountKey(directory, email string) []byte {
	return []byte(directory + "\x00" + email)
}

// GetAccount returns the account for (directory, email), or an error wrapping
// [ErrNotFound].
func (db *DB) GetAccount(ctx context.Context, directory, email string) (*Account, error) {
	var a *Account
	err := db.view(ctx, func(b *buckets) error {
		v := b.accounts.Get(accountKey(directory, email))
		if v == nil {
			return nil
		}
		a = new(Account)
		return json.Unmarshal(v, a)
	})
	subject := fmt.Sprintf("account %s (%q)", directory, email)
	if err != nil {
		return nil, fmt.Errorf("%s: reading: %w", subject, err)
	}
	if a == nil {
		return nil, fmt.Errorf("%s: %w", subject, ErrNotFound)
	}
	return a, nil
}

// PutAccount creates or replaces the account for (a.Directory, a.Email),
// setting a.Created when it is zero.
func (db *DB) PutAccount(ctx context.Context, a *Account) error {
	subject := fmt.Sprintf("account %s (%q)", a.Directory, a.Email)
	if a.Directory == "" || bytes.IndexByte([]byte(a.Directory), 0) >= 0 {
		return fmt.Errorf("%s: directory must be a non-empty URL: %w", subject, ErrInvalidRecord)
	}
	rec := *a
	if rec.Created.IsZero() {
		rec.Created = db.now().UTC()
	}
	data, err := json.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("%s: encoding: %w", subject, err)
	}
	err = db.update(ctx, func(b *buckets, _ uint64) error {
		return b.accounts.Put(accountKey(a.Directory, a.Email), data)
	})
	if err != nil {
		return fmt.Errorf("%s: writing: %w", subject, err)
	}
	a.Created = rec.Created
	return nil
}

// ListAccounts returns every account, sorted by directory then email.
func (db *DB) ListAccounts(ctx context.Context) ([]*Account, error) {
	var out []*Account
	err := db.view(ctx, func(b *buckets) error {
		return b.accounts.ForEach(func(k, v []byte) error {
			a := new(Account)
			if err := json.Unmarshal(v, a); err != nil {
				return fmt.Errorf("account %q: decoding: %w", k, err)
			}
			out = append(out, a)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("listing accounts: %w", err)
	}
	return out, nil
}

// Generation returns the counter that every write increases by one. It reads
// one key, so pollers can call it often.
func (db *DB) Generation(ctx context.Context) (uint64, error) {
	var gen uint64
	err := db.view(ctx, func(b *buckets) error { gen = b.generation(); return nil })
	if err != nil {
		return 0, fmt.Errorf("reading generation: %w", err)
	}
	return gen, nil
}

// Revisions returns the revision of every certificate by name, without
// decoding any record.
func (db *DB) Revisions(ctx context.Context) (map[string]uint64, error) {
	out := make(map[string]uint64)
	err := db.view(ctx, func(b *buckets) error {
		return b.revs.ForEach(func(k, v []byte) error {
			out[string(k)] = getU64(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("reading revisions: %w", err)
	}
	return out, nil
}

// ActivePEM is the active version of a certificate in the form a TLS server
// loads it, as [DB.LoadActive] returns it.
type ActivePEM struct {
	// Name is the certificate's name.
	Name string
	// FullchainPEM is the leaf followed by its issuers.
	FullchainPEM []byte
	// KeyPEM is the private key.
	KeyPEM []byte
	// Domains are the names the certificate must serve.
	Domains []string
	// Revision is the record's revision.
	Revision uint64
}

// LoadActive reads the active versions of the certificates called names in
// one read transaction, in the order of names. A name without a record or
// without an active version is left out. The values are copied out of the
// transaction: the caller owns them. It lets a hot-reload binder follow the
// store without this package knowing the binder (the certctl package adapts
// it).
func (db *DB) LoadActive(ctx context.Context, names []string) ([]ActivePEM, error) {
	out := make([]ActivePEM, 0, len(names))
	err := db.view(ctx, func(b *buckets) error {
		for _, name := range names {
			c, err := b.cert(name)
			if err != nil {
				return err
			}
			if c == nil {
				continue
			}
			if v := c.ActiveVersion(); v != nil {
				out = append(out, ActivePEM{Name: name, FullchainPEM: fullchain(v), KeyPEM: v.KeyPEM, Domains: c.Domains, Revision: c.Revision})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading certificates: %w", err)
	}
	return out, nil
}

// fullchain returns v's leaf followed by its chain.
func fullchain(v *Version) []byte {
	full := make([]byte, 0, len(v.CertPEM)+1+len(v.ChainPEM))
	full = append(full, v.CertPEM...)
	if len(full) > 0 && full[len(full)-1] != '\n' && len(v.ChainPEM) > 0 {
		full = append(full, '\n')
	}
	return append(full, v.ChainPEM...)
}

// certGates holds one in-process gate per lock file path. A lock holder
// holds the gate and the file lock: goroutines of this process queue on the
// gate (with the happens-before edges of a mutex) and only the gate's owner
// contends with other processes for the file lock.
var certGates sync.Map // string -> chan struct{} (capacity 1)

func certGate(path string) chan struct{} {
	g, _ := certGates.LoadOrStore(path, make(chan struct{}, 1))
	return g.(chan struct{})
}

// Lock takes the per-certificate lock of name, waiting until it is free or
// ctx is done. The lock is a file lock on <store>.locks/<name>.lock, so it
// excludes other processes and other goroutines of this one alike.
func (db *DB) Lock(ctx context.Context, name string) (unlock func(), err error) {
	p, err := db.lockPath(name)
	if err != nil {
		return nil, err
	}
	gate := certGate(p)
	select {
	case gate <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: locking: %w", name, ctx.Err())
	}
	wait := 2 * time.Millisecond
	for {
		release, ok, err := tryLockFile(p)
		if err != nil {
			<-gate
			return nil, fmt.Errorf("%s: locking: %w", name, err)
		}
		if ok {
			return db.unlocker(name, gate, release), nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			<-gate
			return nil, fmt.Errorf("%s: locking: %w", name, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// TryLock takes the per-certificate lock of name if no one holds it.
func (db *DB) TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error) {
	p, err := db.lockPath(name)
	if err != nil {
		return nil, false, err
	}
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("%s: locking: %w", name, err)
	}
	gate := certGate(p)
	select {
	case gate <- struct{}{}:
	default:
		return nil, false, nil
	}
	release, ok, err := tryLockFile(p)
	if err != nil || !ok {
		<-gate
		if err != nil {
			return nil, false, fmt.Errorf("%s: locking: %w", name, err)
		}
		return nil, false, nil
	}
	return db.unlocker(name, gate, release), true, nil
}

// lockPath returns the lock file of name, creating the lock directory (0700)
// on demand.
func (db *DB) lockPath(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	if err := os.Mkdir(db.lockDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("%s: creating lock directory: %w", name, err)
	}
	return filepath.Join(db.lockDir, name+".lock"), nil
}

// unlocker returns the unlock function of a held lock: it releases the file
// lock, then the gate. Calling it twice is harmless.
func (db *DB) unlocker(name string, gate chan struct{}, release func() error) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			if err := release(); err != nil {
				db.log.Warn("releasing certificate lock", "name", name, "err", err)
			}
			<-gate
		})
	}
}

// DefaultPath returns the store path used when none is given:
// $CERTCTL_STORE if set; /var/lib/certctl/certctl.db for root; otherwise
// $XDG_DATA_HOME/certctl/certctl.db or ~/.local/share/certctl/certctl.db.
// The caller creates missing default directories (0700).
func DefaultPath() string {
	home, _ := os.UserHomeDir()
	return defaultPath(os.Getenv, os.Geteuid(), home)
}

// defaultPath is DefaultPath with its environment injected.
func defaultPath(getenv func(string) string, euid int, home string) string {
	if p := getenv("CERTCTL_STORE"); p != "" {
		return p
	}
	if euid == 0 {
		return "/var/lib/certctl/certctl.db"
	}
	if x := getenv("XDG_DATA_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "certctl", "certctl.db")
	}
	if home == "" {
		return "certctl.db"
	}
	return filepath.Join(home, ".local", "share", "certctl", "certctl.db")
}

// u64 encodes n as 8 big-endian bytes.
func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n) }

// getU64 decodes 8 big-endian bytes; anything else is 0.
func getU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// Bounds of times that UnixNano represents.
var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

// sortableTime maps t to a uint64 whose big-endian bytes sort like t,
// clamping times outside the UnixNano range.
func sortableTime(t time.Time) uint64 {
	var n int64
	switch {
	case t.Before(minNanoTime):
		n = math.MinInt64
	case t.After(maxNanoTime):
		n = math.MaxInt64
	default:
		n = t.UnixNano()
	}
	return uint64(n) ^ (1 << 63)
}
