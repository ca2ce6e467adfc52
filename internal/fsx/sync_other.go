//go:build !unix

package fsx

// SyncDir does nothing: directories cannot be synced here.
func SyncDir(string) error { return nil }
