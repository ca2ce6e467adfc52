//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// openLockFile opens (creating, 0600) a lock file. Every call gives a new
// file description, so flocks taken through it conflict with every other
// holder: other processes and other goroutines of this process alike.
func openLockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
}

// checkPrivateDir refuses a directory that another user owns or that its
// group or others may write.
func checkPrivateDir(path string, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("lock directory %s is owned by uid %d, not by this user (uid %d); remove it or fix its owner: %w",
			path, st.Uid, os.Geteuid(), ErrUnsafePath)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("lock directory %s is writable by others (mode %04o); make it private: chmod 700 %s: %w",
			path, perm, path, ErrUnsafePath)
	}
	return nil
}

// tryLockFD takes an exclusive flock on f without waiting.
func tryLockFD(f *os.File) (bool, error) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, nil
		case !errors.Is(err, syscall.EINTR):
			return false, err
		}
	}
}

// unlockFile releases the flock on f and closes it.
func unlockFile(f *os.File) error {
	uerr := syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return errors.Join(uerr, f.Close())
}

// openNoFollow opens an existing file, refusing a symbolic link.
func openNoFollow(path string, flag int) (*os.File, error) {
	return os.OpenFile(path, flag|syscall.O_NOFOLLOW, 0)
}
