package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// bbolt never clears a page it frees: after a version is trimmed or a
// record deleted, the old private key stays in the file until the page is
// reused. A write that drops key material therefore wipes the free pages
// before it lets anyone else open the file.

// Page layout of bbolt's file format: a 16-byte header (id u64, flags u16,
// count u16, overflow u32), native byte order.
const (
	pageFlagsOffset    = 8
	pageOverflowOffset = 12
	freelistPageFlag   = 0x10
)

// scrubFree overwrites every free page of bdb's file with zeros. It runs
// inside txScrub, which holds the store exclusively (the in-process gate,
// the turnstile and bbolt's own file lock), right after the write commits.
//
// bbolt keeps two meta pages and may fall back to the older one if the
// newer is torn. Two empty commits first make both meta pages describe the
// current tree, so no page either of them reaches is free. Each commit
// rewrites the freelist, and the older meta page's freelist is itself a
// free page by then: freelist pages are left alone (they hold page ids,
// no record data).
func (db *DB) scrubFree(bdb *bolt.DB) error {
	for range 2 {
		if err := bdb.Update(func(*bolt.Tx) error { return nil }); err != nil {
			return fmt.Errorf("store %s: scrubbing: %w", db.path, err)
		}
	}
	var free []int
	err := bdb.View(func(tx *bolt.Tx) error {
		for id := 2; ; id++ {
			info, err := tx.Page(id)
			if err != nil {
				return err
			}
			if info == nil {
				return nil
			}
			if info.Type == "free" {
				free = append(free, id)
			}
		}
	})
	if err != nil {
		return fmt.Errorf("store %s: scrubbing: listing free pages: %w", db.path, err)
	}
	if len(free) == 0 {
		return nil
	}
	f, err := openNoFollow(db.path, os.O_RDWR)
	if err != nil {
		return fmt.Errorf("store %s: scrubbing: %w", db.path, err)
	}
	ps := bdb.Info().PageSize
	zero := make([]byte, ps)
	hdr := make([]byte, 16)
	for i := 0; i < len(free); i++ {
		off := int64(free[i]) * int64(ps)
		if _, err := f.ReadAt(hdr, off); err != nil {
			_ = f.Close()
			return fmt.Errorf("store %s: scrubbing page %d: %w", db.path, free[i], err)
		}
		if binary.NativeEndian.Uint16(hdr[pageFlagsOffset:]) == freelistPageFlag {
			// Skip the freelist and its overflow pages.
			last := free[i] + int(binary.NativeEndian.Uint32(hdr[pageOverflowOffset:]))
			for i+1 < len(free) && free[i+1] <= last {
				i++
			}
			continue
		}
		if _, err := f.WriteAt(zero, off); err != nil {
			_ = f.Close()
			return fmt.Errorf("store %s: scrubbing page %d: %w", db.path, free[i], err)
		}
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("store %s: scrubbing: %w", db.path, err)
	}
	return f.Close()
}

// storedKeys returns the private keys of a stored record (its versions'
// keys, plaintext or sealed), for deciding whether a write drops any.
func storedKeys(data []byte) [][]byte {
	if data == nil {
		return nil
	}
	type key struct {
		KeyPEM    []byte `json:"key_pem"`
		SealedKey []byte `json:"key_sealed"`
	}
	var r struct {
		Versions []key `json:"versions"`
		key
	}
	if json.Unmarshal(data, &r) != nil {
		// Not decodable: wipe to be safe.
		return [][]byte{nil}
	}
	keys := make([][]byte, 0, 2*len(r.Versions)+2)
	for _, k := range append(r.Versions, r.key) {
		for _, b := range [][]byte{k.KeyPEM, k.SealedKey} {
			if b != nil {
				keys = append(keys, b)
			}
		}
	}
	return keys
}

// dropsKeys reports whether replacing the stored record old by new loses a
// private key that old held.
func dropsKeys(old, new []byte) bool {
	kept := storedKeys(new)
	for _, k := range storedKeys(old) {
		if !slices.ContainsFunc(kept, func(n []byte) bool { return bytes.Equal(n, k) }) {
			return true
		}
	}
	return false
}
