package fsx

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// canExchange reports that exchange may work here.
const canExchange = true

// exchange swaps the directory entries a and b atomically.
func exchange(a, b string) error {
	return unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
}

// inherit gives the new directory fresh the permissions (less group and
// other write) and the group of the open directory old.
func inherit(old *os.Root, fresh string) error {
	fi, err := old.Stat(".")
	if err != nil {
		return err
	}
	if err := os.Chmod(fresh, fi.Mode().Perm()&^0o022); err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Gid) != os.Getegid() {
		_ = os.Lchown(fresh, -1, int(st.Gid))
	}
	return nil
}
