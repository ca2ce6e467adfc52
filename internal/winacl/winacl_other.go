//go:build !windows

package winacl

import "os"

// Restrict does nothing here: the caller's file mode keeps path private.
func Restrict(path string) error { return nil }

// CheckPrivate does nothing here: the callers check owners and modes.
func CheckPrivate(path string) error { return nil }

// Mkdir creates the directory path with mode 0700.
func Mkdir(path string) error { return os.Mkdir(path, 0o700) }

// CheckOwner does nothing here: the callers check owners.
func CheckOwner(path string) error { return nil }

// CheckSecret does nothing here: the callers check modes.
func CheckSecret(path string) error { return nil }

// MkdirAll creates path and any missing parents with mode 0700.
func MkdirAll(path string) error { return os.MkdirAll(path, 0o700) }
