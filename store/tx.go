package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// gateWeight is the weight a writer takes from a gate; a reader takes 1.
const gateWeight = 1 << 30

// gates holds one gate per absolute store path, shared by every DB of this
// process that opens that path.
var gates sync.Map // string -> *semaphore.Weighted

// turnstileName is the file in the lock directory that orders readers and
// writers of the store across processes. It cannot clash with a
// certificate's lock file, which always ends in ".lock".
const turnstileName = ".store"

// openNoCreate opens files for bbolt without O_CREATE, so an operation never
// recreates a store file that was removed after Open.
func openNoCreate(name string, flag int, perm os.FileMode) (*os.File, error) {
	return openNoFollow(name, flag&^os.O_CREATE)
}

// tx opens the file, runs fn in one transaction and closes the file again.
// Readers share the file; a writer has it alone. Waiting for either is bounded
// by the lock timeout and by ctx.
func (db *DB) tx(ctx context.Context, write bool, fn func(*bolt.Tx) error) error {
	return db.txScrub(ctx, write, nil, fn)
}

// txScrub is tx, and when fn leaves *scrub true after a committed write,
// it also wipes the pages the write freed (see scrubFree) before anyone
// else can open the file.
func (db *DB) txScrub(ctx context.Context, write bool, scrub *bool, fn func(*bolt.Tx) error) error {
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
	bdb, err := openBolt(db.path, bopts)
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
	fn = recovering(db.path, fn)
	if write {
		if err := bdb.Update(fn); err != nil {
			return err
		}
		if scrub != nil && *scrub {
			return db.scrubFree(bdb)
		}
		return nil
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
	if err := db.lockDirReady(); err != nil {
		if errors.Is(err, ErrUnsafePath) {
			return nil, err
		}
		// A directory where it cannot be created (read-only): go without.
		db.log.Debug("store turnstile unavailable", "dir", db.lockDir, "err", err)
		return func() {}, nil
	}
	p := filepath.Join(db.lockDir, turnstileName)
	f, err := openLockFile(p)
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

// recovering wraps fn so that a panic inside it, which bbolt raises on
// corrupted pages (an index out of range, "invalid page type"), becomes an
// error wrapping [ErrCorrupt]. bbolt rolls the transaction back as the
// panic unwinds, so nothing is written.
func recovering(path string, fn func(*bolt.Tx) error) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("store %s: %w (%v); restore it from a backup", path, ErrCorrupt, r)
			}
		}()
		return fn(tx)
	}
}

// openBolt is bolt.Open, turning a panic on a damaged file (bbolt reads
// the freelist as it opens) into an error wrapping [ErrCorrupt], and
// refusing a truncated file before bbolt maps it ([checkLength]).
func openBolt(path string, opts *bolt.Options) (bdb *bolt.DB, err error) {
	if err := checkLength(path); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			bdb, err = nil, fmt.Errorf("store %s: %w (%v); restore it from a backup", path, ErrCorrupt, r)
		}
	}()
	return bolt.Open(path, 0o600, opts)
}
