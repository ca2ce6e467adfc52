//go:build unix

package fsx

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWritePrivateFiles_UnsafeDirs_Refused(t *testing.T) {
	root := t.TempDir()
	elsewhere := t.TempDir()
	link := filepath.Join(root, "link")
	if err := os.Symlink(elsewhere, link); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{link, file} {
		err := WritePrivateFiles(File{Path: filepath.Join(dir, "key.pem"), Data: []byte("secret"), Perm: 0o600})
		if !errors.Is(err, ErrUnsafeDir) {
			t.Errorf("%s: err = %v, want ErrUnsafeDir", dir, err)
		}
	}
	if es, _ := os.ReadDir(elsewhere); len(es) != 0 {
		t.Errorf("written through the link: %v", es)
	}
	// WriteFiles, for public files, still follows a link to a directory.
	if err := WriteFiles(File{Path: filepath.Join(link, "ca.pem"), Data: []byte("ca"), Perm: 0o644}); err != nil {
		t.Errorf("WriteFiles through a link: %v", err)
	}
}

func TestWritePrivateFiles_OtherOwner_Refused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a directory to another user")
	}
	dir := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 12345, 12345); err != nil {
		t.Fatal(err)
	}
	err := WritePrivateFiles(File{Path: filepath.Join(dir, "key.pem"), Data: []byte("secret"), Perm: 0o600})
	if !errors.Is(err, ErrUnsafeDir) {
		t.Errorf("err = %v, want ErrUnsafeDir", err)
	}
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Errorf("written in another user's directory: %v", es)
	}
}

func TestWritePrivateFiles_OwnWritableDir_ModeFixedAndLinkReplaced(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mine")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	// A link planted at the destination itself is replaced, not followed.
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("untouched"), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "key.pem")
	if err := os.Symlink(victim, dst); err != nil {
		t.Fatal(err)
	}
	if err := WritePrivateFiles(File{Path: dst, Data: []byte("secret"), Perm: 0o600}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode() & (os.ModePerm | os.ModeSetgid); got != 0o755|os.ModeSetgid {
		t.Errorf("directory mode %v, want %v", got, 0o755|os.ModeSetgid)
	}
	if b, _ := os.ReadFile(victim); string(b) != "untouched" {
		t.Errorf("link target now holds %q", b)
	}
	if fi, err := os.Lstat(dst); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Errorf("destination: %v, %v; want a regular 0600 file", fi, err)
	}
}
