package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/certctl/certctl/internal/winacl"
)

// tryLockFile takes an exclusive lock on the file at path (created 0600)
// without waiting for another holder.
func tryLockFile(path string) (release func() error, ok bool, err error) {
	f, err := openLockFile(path)
	if err != nil {
		return nil, false, err
	}
	ok, err = tryLockFD(f)
	if err != nil || !ok {
		_ = f.Close()
		return nil, false, err
	}
	return func() error { return unlockFile(f) }, true, nil
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
	if err := db.lockDirReady(); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return filepath.Join(db.lockDir, name+".lock"), nil
}

// lockDirReady creates the lock directory (0700) if it is missing and
// checks that it is safe to hold locks in: a real directory (not a link),
// owned by this user, writable by no one else. Whoever can write it could
// plant lock files and hold them, blocking every renewal.
func (db *DB) lockDirReady() error {
	// On Windows, created with an access control list that the lock files
	// inherit (SYSTEM, Administrators and this user).
	if err := winacl.Mkdir(db.lockDir); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating lock directory %s: %w", db.lockDir, err)
	}
	fi, err := os.Lstat(db.lockDir)
	if err != nil {
		return fmt.Errorf("lock directory %s: %w", db.lockDir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("lock directory %s is not a directory (a link or a file): %w", db.lockDir, ErrUnsafePath)
	}
	if err := checkPrivateDir(db.lockDir, fi); err != nil {
		return err
	}
	return nil
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
