package fsx

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/certctl/certctl/internal/winacl"
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
//
// Each destination directory is opened once, before anything is staged, and
// every later step happens relative to that open directory: a directory
// renamed or replaced meanwhile does not redirect the writes. A destination
// that is a symbolic link is replaced, never written through.
func WriteFiles(files ...File) error {
	return writeFiles(false, files)
}

// WritePrivateFiles is [WriteFiles] for files that hold secrets (or sit next
// to them): every destination directory must also pass [OpenPrivateDir]'s
// checks, which are made before anything is staged. A directory that fails
// them gives an error matching [ErrUnsafeDir] and nothing is written.
func WritePrivateFiles(files ...File) error {
	return writeFiles(true, files)
}

func writeFiles(private bool, files []File) error {
	roots := map[string]*os.Root{}
	defer func() {
		for _, r := range roots {
			_ = r.Close()
		}
	}()
	for _, f := range files {
		dir := filepath.Dir(f.Path)
		if roots[dir] != nil {
			continue
		}
		open := os.OpenRoot
		if private {
			open = OpenPrivateDir
		}
		r, err := open(dir)
		switch {
		case errors.Is(err, ErrUnsafeDir):
			return err // names dir
		case err != nil:
			return fmt.Errorf("%s: %w", f.Path, err)
		}
		roots[dir] = r
	}
	for _, f := range files {
		removeStale(roots[filepath.Dir(f.Path)], filepath.Base(f.Path))
	}
	type stagedFile struct {
		root      *os.Root
		tmp, name string
	}
	staged := make([]stagedFile, 0, len(files))
	defer func() { // on failure: remove what is still staged
		for _, s := range staged {
			_ = s.root.Remove(s.tmp)
		}
	}()
	for _, f := range files {
		r := roots[filepath.Dir(f.Path)]
		tmp, err := stage(r, f)
		if err != nil {
			return err
		}
		staged = append(staged, stagedFile{r, tmp, filepath.Base(f.Path)})
	}
	for i, f := range files {
		if err := staged[i].root.Rename(staged[i].tmp, staged[i].name); err != nil {
			staged = staged[i:]
			return fmt.Errorf("%s: %w", f.Path, err)
		}
	}
	staged = nil
	for d, r := range roots {
		if err := syncRoot(r); err != nil {
			return fmt.Errorf("%s: syncing: %w", d, err)
		}
	}
	return nil
}

// tmpPrefix is the start of the name of base's temporary files.
func tmpPrefix(base string) string { return "." + base + ".tmp-" }

// removeStale removes the temporary files of base that a writer killed
// while staging left in r. Only another writer of the same file at the same
// moment could own one, and its rename then fails with an error while this
// write succeeds.
func removeStale(r *os.Root, base string) {
	d, err := r.Open(".")
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	_ = d.Close()
	for _, n := range names {
		if strings.HasPrefix(n, tmpPrefix(base)) {
			_ = r.Remove(n)
		}
	}
}

// stage writes f to a new temporary file in r, the directory of f.Path, and
// syncs it. It returns the temporary file's name in r.
func stage(r *os.Root, f File) (string, error) {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	name := tmpPrefix(filepath.Base(f.Path)) + hex.EncodeToString(rnd[:])
	t, err := r.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("%s: %w", f.Path, err)
	}
	err = t.Chmod(f.Perm)
	if err == nil && f.Perm&0o077 == 0 {
		// Windows ignores modes: give a private file (a key) an access
		// control list for SYSTEM, Administrators and this user before
		// writing it. Nothing elsewhere.
		err = winacl.Restrict(filepath.Join(filepath.Dir(f.Path), name))
	}
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
		_ = r.Remove(name)
		return "", fmt.Errorf("%s: writing: %w", f.Path, err)
	}
	return name, nil
}

// syncRoot makes the entries of r's directory durable.
func syncRoot(r *os.Root) error {
	d, err := r.Open(".")
	if err != nil {
		return err
	}
	err = syncFile(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// OpenPrivateDir opens the directory path for writing private files in it,
// after checking that it is safe to: path itself is not a symbolic link
// (links in its parents are followed), it is a directory, and it is owned by
// the current user or by root. A directory owned by the current user loses
// its group and other write permission; one owned by root must not have
// them. On Windows the owner may also be SYSTEM or the Administrators group
// and the access control list is not judged (a private file written in it
// gets its own); on other systems without file owners only the first two
// checks are made.
// A failed check gives an error matching [ErrUnsafeDir].
//
// The checks are made on the directory actually opened: one swapped for a
// link between the look and the open is refused too. Files created through
// the returned root stay in that directory, whatever happens to path later.
func OpenPrivateDir(path string) (*os.Root, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return nil, fmt.Errorf("%s: %w: it is a symbolic link (refusing to write through it)", path, ErrUnsafeDir)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s: %w: not a directory", path, ErrUnsafeDir)
	}
	r, err := os.OpenRoot(path)
	if err != nil {
		return nil, err
	}
	rfi, err := r.Stat(".")
	if err == nil && !os.SameFile(fi, rfi) {
		err = fmt.Errorf("%s: %w: replaced while being opened", path, ErrUnsafeDir)
	}
	if err == nil {
		err = checkOwner(r, path, rfi)
	}
	if err != nil {
		_ = r.Close()
		return nil, err
	}
	return r, nil
}
