//go:build unix

package fsx

import (
	"fmt"
	"os"
	"syscall"
)

// checkOwner accepts a directory owned by the current user, removing its
// group and other write permission, or owned by root without them.
func checkOwner(r *os.Root, path string, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	writable := fi.Mode().Perm()&0o022 != 0
	switch uid := int(st.Uid); {
	case uid == os.Geteuid():
		if writable {
			mode := fi.Mode() & (os.ModePerm | os.ModeSetgid | os.ModeSticky) &^ 0o022
			if err := r.Chmod(".", mode); err != nil {
				return fmt.Errorf("%s: removing group and other write permission: %w", path, err)
			}
		}
		return nil
	case uid == 0:
		if writable {
			return fmt.Errorf("%s: %w: owned by root and writable by group or others (mode %v)", path, ErrUnsafeDir, fi.Mode().Perm())
		}
		return nil
	default:
		return fmt.Errorf("%s: %w: owned by uid %d, neither the current user (uid %d) nor root", path, ErrUnsafeDir, uid, os.Geteuid())
	}
}
