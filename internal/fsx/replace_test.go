package fsx

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// ReplaceDir replaces the files of a directory as a set: a reader that
// opens the directory sees the files of one call, never a mix. Other files
// are kept, and so is the directory's mode; leftovers of a killed call are
// removed by the next.
func TestReplaceDir_SetIsAtomic(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("atomic directory exchange is Linux only; elsewhere ReplaceDir writes file by file")
	}
	parent := t.TempDir()
	dir := filepath.Join(parent, "site")
	set := func(tag byte) []File {
		return []File{
			{Path: filepath.Join(dir, "a.pem"), Data: bytes.Repeat([]byte{tag}, 4096), Perm: 0o644},
			{Path: filepath.Join(dir, "b.pem"), Data: bytes.Repeat([]byte{tag}, 100), Perm: 0o600},
		}
	}
	if err := ReplaceDir(dir, set('A')...); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "extra.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	// What a killed call leaves behind.
	if err := os.Mkdir(filepath.Join(parent, ".site.new"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(parent, ".site.new", "a.pem"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}

	var stop atomic.Bool
	var mixed atomic.Int64
	var reads atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			r, err := os.OpenRoot(dir)
			if err != nil {
				continue // between exchange steps on a slow machine: retry
			}
			a, err1 := r.ReadFile("a.pem")
			b, err2 := r.ReadFile("b.pem")
			_ = r.Close()
			if err1 != nil || err2 != nil {
				continue
			}
			reads.Add(1)
			if len(a) == 0 || len(b) == 0 || a[0] != b[0] {
				mixed.Add(1)
			}
		}
	})
	for i := range 200 {
		tag := byte('A' + i%2)
		if err := ReplaceDir(dir, set(tag)...); err != nil {
			stop.Store(true)
			wg.Wait()
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if mixed.Load() > 0 {
		t.Fatalf("%d of %d reads saw files of two different calls", mixed.Load(), reads.Load())
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o750 {
		t.Fatalf("directory mode %v, %v; want 0750 kept", fi.Mode(), err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "extra.txt")); err != nil || string(b) != "mine" {
		t.Fatalf("other file lost: %q %v", b, err)
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		t.Fatalf("leftovers next to the directory: %v", entries)
	}
	fi, err = os.Stat(filepath.Join(dir, "b.pem"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("b.pem mode %v, %v", fi.Mode(), err)
	}
}
