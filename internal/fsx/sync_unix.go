//go:build unix

package fsx

import "os"

// SyncDir makes the entries created, renamed or removed in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncFile syncs an open directory.
func syncFile(d *os.File) error { return d.Sync() }
