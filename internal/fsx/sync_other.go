//go:build !unix

package fsx

import "os"

// SyncDir does nothing: directories cannot be synced here.
func SyncDir(string) error { return nil }

// syncFile does nothing: directories cannot be synced here.
func syncFile(*os.File) error { return nil }
