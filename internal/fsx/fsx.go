package fsx

import (
	"fmt"
	"os"
	"path/filepath"
)

// File is one file for [WriteFiles]: its destination, content and mode.
type File struct {
	Path string
	Data []byte
	Perm os.FileMode // exact, whatever the umask
}

// WriteFile writes data to path with perm, atomically: it is [WriteFiles]
// with one file.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return WriteFiles(File{Path: path, Data: data, Perm: perm})
}

// WriteFiles writes files in two steps. First each is staged: written to a
// new temporary file in its destination's directory, given its mode and
// synced. Only when all are staged is each renamed over its destination, in
// order, and then every directory involved is synced. A failure while
// staging removes the staged files and leaves every destination untouched.
// Each file is replaced atomically; the set is not replaced as one. Errors
// name the path concerned.
func WriteFiles(files ...File) error {
	staged := make([]string, 0, len(files))
	defer func() { // on failure: remove what is still staged
		for _, tmp := range staged {
			_ = os.Remove(tmp)
		}
	}()
	for _, f := range files {
		tmp, err := stage(f)
		if err != nil {
			return err
		}
		staged = append(staged, tmp)
	}
	dirs := map[string]bool{}
	for i, f := range files {
		if err := os.Rename(staged[i], f.Path); err != nil {
			staged = staged[i:]
			return fmt.Errorf("%s: %w", f.Path, err)
		}
		dirs[filepath.Dir(f.Path)] = true
	}
	staged = nil
	for d := range dirs {
		if err := SyncDir(d); err != nil {
			return fmt.Errorf("%s: syncing: %w", d, err)
		}
	}
	return nil
}

// stage writes f to a new temporary file next to f.Path and syncs it. It
// returns the temporary file's path.
func stage(f File) (string, error) {
	t, err := os.CreateTemp(filepath.Dir(f.Path), "."+filepath.Base(f.Path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("%s: %w", f.Path, err)
	}
	err = t.Chmod(f.Perm)
	if err == nil {
		_, err = t.Write(f.Data)
	}
	if err == nil {
		err = t.Sync()
	}
	if cerr := t.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(t.Name())
		return "", fmt.Errorf("%s: writing: %w", f.Path, err)
	}
	return t.Name(), nil
}
