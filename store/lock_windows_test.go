package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// openNoFollow refuses a symbolic link on Windows too (where making one
// needs a privilege: skipped without it), and opens a regular file.
func TestOpenNoFollow_RefusesLink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := openNoFollow(target, os.O_RDONLY)
	if err != nil {
		t.Fatalf("regular file: %v", err)
	}
	_ = f.Close()
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("cannot make a symbolic link here: %v", err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Skipf("os.Symlink made no symbolic link (Wine 8 does not): %v", err)
	}
	for _, flag := range []int{os.O_RDONLY, os.O_RDWR, os.O_RDWR | os.O_CREATE} {
		f, err := openNoFollow(link, flag)
		if err == nil {
			_ = f.Close()
			t.Errorf("flag %#x: opened a symbolic link", flag)
		} else if !errors.Is(err, ErrUnsafePath) {
			t.Errorf("flag %#x: %v, want ErrUnsafePath", flag, err)
		}
	}
}
