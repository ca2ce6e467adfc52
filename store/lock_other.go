//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || windows)

package store

import "os"

// Without flock, file locks are no-ops here: the per-certificate lock is only
// the in-process gate of [DB.Lock] (excluding goroutines of this process, not
// other processes), and the store turnstile orders nothing across processes.
// The lock files are still created so the layout matches.

// openLockFile opens (creating, 0600) a lock file.
func openLockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}

// tryLockFD always succeeds.
func tryLockFD(*os.File) (bool, error) { return true, nil }

// unlockFile closes f.
func unlockFile(f *os.File) error { return f.Close() }

// openNoFollow opens an existing file (no-follow is not available here).
func openNoFollow(path string, flag int) (*os.File, error) {
	return os.OpenFile(path, flag, 0)
}

// checkPrivateDir has no owner or mode to check here.
func checkPrivateDir(string, os.FileInfo) error { return nil }
