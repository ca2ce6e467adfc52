package fsx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ReplaceDir writes files, which must all lie directly in dir, so that a
// reader of dir sees either all the old files or all the new ones, even if
// the process is killed midway: the new files are written into a fresh
// directory next to dir, which then trades places with dir in one atomic
// exchange (Linux renameat2 RENAME_EXCHANGE). Other regular files of dir
// are carried over as hard links; dir's permissions (less group and other
// write) and group are kept. What a killed call leaves (the hidden
// directory .NAME.new beside dir) is removed by the next call.
//
// dir must pass [OpenPrivateDir]'s checks when it exists ([ErrUnsafeDir]).
// Where the exchange is not available (other systems, a subdirectory in
// dir, a file system that refuses it), ReplaceDir falls back to
// [WritePrivateFiles], whose files are each atomic but not as a set.
func ReplaceDir(dir string, files ...File) error {
	for _, f := range files {
		if filepath.Dir(f.Path) != filepath.Clean(dir) {
			return fmt.Errorf("%s: not directly in %s", f.Path, dir)
		}
	}
	parent, base := filepath.Dir(filepath.Clean(dir)), filepath.Base(dir)
	// The fresh directory has a fixed name, so what a killed call left is
	// found without listing parent (which may hold thousands of
	// certificates' directories). Writers of one dir are serialised by
	// their caller (the certificate's lock).
	fresh := filepath.Join(parent, "."+base+".new")
	if err := os.RemoveAll(fresh); err != nil {
		return fmt.Errorf("%s: removing what an interrupted write left: %w", dir, err)
	}

	old, err := OpenPrivateDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	default:
		defer old.Close()
	}
	var keep []string
	if old != nil {
		var ok bool
		if keep, ok = carriedOver(old, files); !ok || !canExchange {
			return WritePrivateFiles(files...)
		}
	}

	if err := os.Mkdir(fresh, 0o700); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	done := false
	defer func() {
		if !done {
			_ = os.RemoveAll(fresh)
		}
	}()
	moved := make([]File, len(files))
	for i, f := range files {
		moved[i] = File{Path: filepath.Join(fresh, filepath.Base(f.Path)), Data: f.Data, Perm: f.Perm}
	}
	if err := WritePrivateFiles(moved...); err != nil {
		return err
	}
	if old == nil {
		if err := os.Rename(fresh, dir); err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		done = true
		return SyncDir(parent)
	}
	if err := inherit(old, fresh); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	for _, n := range keep {
		if err := os.Link(filepath.Join(dir, n), filepath.Join(fresh, n)); err != nil {
			return WritePrivateFiles(files...)
		}
	}
	if err := exchange(fresh, dir); err != nil {
		// Not supported here after all: write file by file.
		return WritePrivateFiles(files...)
	}
	// fresh now holds the old files.
	done = true
	_ = os.RemoveAll(fresh)
	return SyncDir(parent)
}

// carriedOver lists the entries of the open directory r that files do not
// replace; ok is false if one of them is not a regular file (it cannot be
// carried over as a hard link).
func carriedOver(r *os.Root, files []File) (keep []string, ok bool) {
	d, err := r.Open(".")
	if err != nil {
		return nil, false
	}
	entries, err := d.ReadDir(-1)
	_ = d.Close()
	if err != nil {
		return nil, false
	}
	for _, e := range entries {
		n := e.Name()
		if slices.ContainsFunc(files, func(f File) bool { return filepath.Base(f.Path) == n }) || strings.Contains(n, ".tmp-") {
			continue
		}
		if !e.Type().IsRegular() {
			return nil, false
		}
		keep = append(keep, n)
	}
	return keep, true
}
