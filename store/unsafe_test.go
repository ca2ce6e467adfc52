//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Finding 7 of the security review: a store path that is a symbolic link
// is refused and the file it points to is left as it was.
func TestUnsafe_StoreSymlinkRefused(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "certctl.db")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	_, err := Open(link, nil)
	if !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("Open of a link: %v, want ErrUnsafePath", err)
	}
	fi, err := os.Stat(target)
	if err != nil || fi.Size() != 0 || fi.Mode().Perm() != 0o644 {
		t.Fatalf("the link's target was changed: %v %v", fi.Mode(), err)
	}
}

// Lock files are not opened through a link planted in the lock directory.
func TestUnsafe_LockFileSymlinkNotFollowed(t *testing.T) {
	db := openTest(t, nil)
	if err := os.MkdirAll(db.lockDir, 0o700); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.Symlink(target, filepath.Join(db.lockDir, "planted.example.lock")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := db.Lock(ctx, "planted.example"); err == nil {
		t.Fatal("locked through a planted link")
	}
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a file was created through the link: %v", err)
	}
}

// A lock directory that others may write, or that is a link, is refused at
// once with a clear error instead of being used (another user could hold
// its lock files forever).
func TestUnsafe_LockDirRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t.Run("world-writable", func(t *testing.T) {
		db := openTest(t, nil)
		if err := os.MkdirAll(db.lockDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(db.lockDir, 0o777); err != nil {
			t.Fatal(err)
		}
		_, err := db.Lock(ctx, "a.example")
		if !errors.Is(err, ErrUnsafePath) {
			t.Fatalf("Lock: %v, want ErrUnsafePath", err)
		}
		if err := db.Put(ctx, fullCert("a.example")); !errors.Is(err, ErrUnsafePath) {
			t.Fatalf("Put: %v, want ErrUnsafePath", err)
		}
	})
	t.Run("link", func(t *testing.T) {
		db := openTest(t, nil)
		other := t.TempDir()
		if err := os.RemoveAll(db.lockDir); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(other, db.lockDir); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Lock(ctx, "a.example"); !errors.Is(err, ErrUnsafePath) {
			t.Fatalf("Lock: %v, want ErrUnsafePath", err)
		}
		if entries, _ := os.ReadDir(other); len(entries) != 0 {
			t.Fatalf("files were made through the link: %v", entries)
		}
	})
}
