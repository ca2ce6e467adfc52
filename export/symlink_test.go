//go:build unix

package export_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/certctl/certctl/export"
)

// plantSymlink makes link a symbolic link to a new directory outside the
// export tree, and returns that directory: whatever lands in it was written
// through the link.
func plantSymlink(t *testing.T, link string) string {
	t.Helper()
	elsewhere := t.TempDir()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, link); err != nil {
		t.Fatal(err)
	}
	return elsewhere
}

func TestExport_SymlinkPlanted_NothingWrittenThrough(t *testing.T) {
	p := exportIssue(t, "a.example", "ec")
	tests := []struct {
		name   string
		target func(root string) (export.FileTarget, string)
	}{
		{"DIR/NAME is a symlink", func(root string) (export.FileTarget, string) {
			return export.FileTarget{Dir: filepath.Join(root, "live")}, filepath.Join(root, "live", "a")
		}},
		{"PFX parent is a symlink", func(root string) (export.FileTarget, string) {
			return export.FileTarget{PFX: filepath.Join(root, "pfx", "a.pfx")}, filepath.Join(root, "pfx")
		}},
		{"PFX parent is a symlink, PEM fine", func(root string) (export.FileTarget, string) {
			return export.FileTarget{Dir: filepath.Join(root, "live"), PFX: filepath.Join(root, "pfx", "a.pfx")},
				filepath.Join(root, "pfx")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			target, link := tt.target(root)
			elsewhere := plantSymlink(t, link)
			_, err := export.Export("a", p.cert, p.chain, p.key, target)
			if !errors.Is(err, export.ErrUnsafeDir) {
				t.Errorf("err = %v, want ErrUnsafeDir", err)
			}
			if names := dirNames(t, elsewhere); len(names) != 0 {
				t.Errorf("written through the symlink: %q", names)
			}
			if target.Dir != "" && target.PFX != "" {
				if names := dirNames(t, filepath.Join(target.Dir, "a")); len(names) != 0 {
					t.Errorf("PEM files written although the export failed: %q", names)
				}
			}
		})
	}
}

func TestWriteDir_Symlink_NothingWrittenThrough(t *testing.T) {
	p := exportIssue(t, "a.example", "ec")
	link := filepath.Join(t.TempDir(), "out")
	elsewhere := plantSymlink(t, link)
	if _, err := export.WriteDir(link, p.cert, p.chain, p.key); !errors.Is(err, export.ErrUnsafeDir) {
		t.Errorf("err = %v, want ErrUnsafeDir", err)
	}
	if names := dirNames(t, elsewhere); len(names) != 0 {
		t.Errorf("written through the symlink: %q", names)
	}
}

func TestExport_ExistingNameDirWritableByOthers_ModeFixed(t *testing.T) {
	p := exportIssue(t, "a.example", "ec")
	root := t.TempDir()
	dir := filepath.Join(root, "a")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := export.Export("a", p.cert, p.chain, p.key, export.FileTarget{Dir: root}); err != nil {
		t.Fatal(err)
	}
	checkMode(t, dir, 0o755)
	checkMode(t, filepath.Join(dir, "privkey.pem"), 0o600)
}

func TestExport_NameIsAFile_Refused(t *testing.T) {
	p := exportIssue(t, "a.example", "ec")
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "a"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := export.Export("a", p.cert, p.chain, p.key, export.FileTarget{Dir: root}); !errors.Is(err, export.ErrUnsafeDir) {
		t.Errorf("err = %v, want ErrUnsafeDir", err)
	}
}
