package fsx

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestWriteFile_ModeContentAndNoLeftovers(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "key.pem")
	if err := WriteFile(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(b) != "two" || st.Mode().Perm() != 0o600 {
		t.Fatalf("content %q mode %v", b, st.Mode())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x"), nil, 0o600); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
}

func TestWriteFile_ReadersNeverSeePartialContent(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	a, b := bytes.Repeat([]byte("a"), 1<<16), bytes.Repeat([]byte("b"), 1<<17)
	if err := WriteFile(p, a, 0o644); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			got, err := os.ReadFile(p)
			if err != nil || (!bytes.Equal(got, a) && !bytes.Equal(got, b)) {
				bad++
			}
		}
	}()
	for i := 0; i < 100; i++ {
		data := a
		if i%2 == 0 {
			data = b
		}
		if err := WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if bad != 0 {
		t.Fatalf("%d reads saw a partial or missing file", bad)
	}
}

func TestWriteFiles_AllWrittenWithTheirModes(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	files := []File{
		{filepath.Join(dir, "key.pem"), []byte("key"), 0o600},
		{filepath.Join(dir, "cert.pem"), []byte("cert"), 0o644},
		{filepath.Join(sub, "x.pfx"), []byte("pfx"), 0o640},
	}
	if err := WriteFiles(files...); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f.Path)
		if err != nil || !bytes.Equal(b, f.Data) {
			t.Errorf("%s = %q, %v; want %q", f.Path, b, err, f.Data)
		}
		if st, err := os.Stat(f.Path); err != nil || st.Mode().Perm() != f.Perm {
			t.Errorf("%s: mode %v, %v; want %v", f.Path, st.Mode(), err, f.Perm)
		}
	}
	for _, d := range []string{dir, sub} {
		if entries, _ := os.ReadDir(d); len(entries) != map[string]int{dir: 3, sub: 1}[d] {
			t.Errorf("%s holds %v: temporary files left", d, entries)
		}
	}
	if err := WriteFiles(); err != nil {
		t.Errorf("WriteFiles() = %v", err)
	}
}

func TestWriteFiles_StagingFails_NothingChanged(t *testing.T) {
	dir := t.TempDir()
	first := filepath.Join(dir, "first")
	if err := WriteFile(first, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing", "second")
	err := WriteFiles(File{first, []byte("new"), 0o644}, File{missing, []byte("x"), 0o600})
	if err == nil || !strings.HasPrefix(err.Error(), missing+": ") {
		t.Fatalf("err = %v, want one naming %s", err, missing)
	}
	if b, _ := os.ReadFile(first); string(b) != "old" {
		t.Errorf("first = %q after a failed WriteFiles, want the old content", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%s holds %v: staged files left", dir, entries)
	}
}

func TestWriteFiles_RenameFails_RestDiscarded(t *testing.T) {
	dir := t.TempDir()
	// A directory cannot be replaced by a file: staging works, renaming fails.
	blocked := filepath.Join(dir, "blocked")
	if err := os.Mkdir(blocked, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(blocked, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	first, last := filepath.Join(dir, "first"), filepath.Join(dir, "last")
	err := WriteFiles(File{first, []byte("1"), 0o644}, File{blocked, []byte("2"), 0o644}, File{last, []byte("3"), 0o644})
	if err == nil || !strings.HasPrefix(err.Error(), blocked+": ") {
		t.Fatalf("err = %v, want one naming %s", err, blocked)
	}
	if b, _ := os.ReadFile(first); string(b) != "1" {
		t.Errorf("first = %q, want the renamed new content", b)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"blocked", "first"}) {
		t.Errorf("%s holds %q, want blocked and first only", dir, names)
	}
}

func TestSyncDir(t *testing.T) {
	if err := SyncDir(t.TempDir()); err != nil {
		t.Errorf("SyncDir = %v", err)
	}
	if runtime.GOOS != "windows" {
		if err := SyncDir(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("SyncDir(missing) = %v, want ErrNotExist", err)
		}
	}
}

// A writer killed while staging leaves a hidden temporary file; the next
// write of the same file removes it, and leaves other files alone.
func TestWriteFiles_RemovesStaleTemporaries(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ".cert.pem.tmp-0123456789abcdef")
	other := filepath.Join(dir, ".other.pem.tmp-0123456789abcdef")
	for _, p := range []string{stale, other} {
		if err := os.WriteFile(p, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteFiles(File{Path: filepath.Join(dir, "cert.pem"), Data: []byte("whole"), Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale temporary file kept: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("another file's temporary was removed: %v", err)
	}
}
