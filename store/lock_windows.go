//go:build windows

package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/windows"

	"github.com/certctl/certctl/internal/winacl"
)

// The lock of a lock file is a byte-range lock (LockFileEx) on its first
// byte. Windows ties such a lock to the handle that took it, so, as with
// flock on a file description, two handles conflict even within one
// process. Nothing reads or writes lock files, so the lock being mandatory
// on Windows changes nothing.

// openLockFile opens (creating) a lock file, refusing a symbolic link. It
// inherits the access control list of the lock directory
// ([winacl.Restrict]).
func openLockFile(path string) (*os.File, error) {
	return openNoFollow(path, os.O_RDWR|os.O_CREATE)
}

// tryLockFD takes an exclusive lock on f without waiting.
func tryLockFD(f *os.File) (bool, error) {
	err := windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, new(windows.Overlapped))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, windows.ERROR_LOCK_VIOLATION):
		return false, nil
	}
	return false, err
}

// unlockFile releases the lock on f and closes it. Closing alone would
// release it too, but only once Windows gets round to it.
func unlockFile(f *os.File) error {
	uerr := windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, new(windows.Overlapped))
	return errors.Join(uerr, f.Close())
}

// openNoFollow opens a file, refusing a symbolic link: the reparse point
// itself is opened (FILE_FLAG_OPEN_REPARSE_POINT), then refused; the path
// is looked at too, for file systems that follow the link anyway.
func openNoFollow(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.FILE_FLAG_OPEN_REPARSE_POINT, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && fi.Mode()&fs.ModeSymlink == 0 {
		fi, err = os.Lstat(path)
	}
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		err = &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("is a symbolic link: %w", ErrUnsafePath)}
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// checkPrivateDir refuses a directory owned by someone other than this
// user, SYSTEM or the Administrators group, or that grants anyone else
// write access ([winacl.CheckPrivate]).
func checkPrivateDir(path string, _ os.FileInfo) error {
	if err := winacl.CheckPrivate(path); err != nil {
		return fmt.Errorf("lock directory %s: %w; remove it and let certctl recreate it: %w", path, err, ErrUnsafePath)
	}
	return nil
}
