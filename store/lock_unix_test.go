//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly || windows

package store

import (
	"path/filepath"
	"testing"
)

// The file-lock layer alone (without the in-process gate) must exclude a second
// holder in the same process: each attempt opens its own file description (a handle on Windows).
func TestTryLockFile_ConflictsWithinProcess(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	release, ok, err := tryLockFile(p)
	if err != nil || !ok {
		t.Fatalf("first tryLockFile = %v, %v", ok, err)
	}
	if _, ok, err := tryLockFile(p); ok || err != nil {
		t.Fatalf("second tryLockFile while held = %v, %v; want false, nil", ok, err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	release2, ok, err := tryLockFile(p)
	if err != nil || !ok {
		t.Fatalf("tryLockFile after release = %v, %v", ok, err)
	}
	_ = release2()
}
