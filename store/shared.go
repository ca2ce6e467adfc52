package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketShared holds the shared values of the bbolt backend: key -> 8-byte
// revision, 8-byte expiry (Unix nanoseconds, 0 = none), value. It is
// created on first write, so stores made before it need no migration.
var bucketShared = []byte("shared")

// keySharedRev is the meta key of the counter that numbers shared writes.
// Shared values do not move the generation: they are not certificates, and
// a binder polling the generation has nothing to reload for them.
var keySharedRev = []byte("shared-revision")

// maxSharedValue bounds a shared value, in both backends.
const maxSharedValue = 64 << 10

// checkSharedKey refuses keys that are empty, too long or not printable.
func checkSharedKey(key string) error {
	if key == "" || len(key) > 512 || strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("shared key %q: %w", key, ErrInvalidName)
	}
	return nil
}

// GetShared returns the value at key and its revision.
func (db *DB) GetShared(ctx context.Context, key string) ([]byte, uint64, error) {
	if err := checkSharedKey(key); err != nil {
		return nil, 0, err
	}
	var (
		val []byte
		rev uint64
	)
	err := db.tx(ctx, false, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketShared)
		if b == nil {
			return nil
		}
		if v, r, ok := decodeShared(b.Get([]byte(key)), db.now()); ok {
			val, rev = append([]byte(nil), v...), r
		}
		return nil
	})
	if err == nil && rev != 0 {
		val, err = db.seal.openShared(key, val)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("shared %s: reading: %w", key, err)
	}
	if rev == 0 {
		return nil, 0, fmt.Errorf("shared %s: %w", key, ErrNotFound)
	}
	return val, rev, nil
}

// PutShared writes value at key if its revision is rev.
func (db *DB) PutShared(ctx context.Context, key string, value []byte, rev uint64, ttl time.Duration) (uint64, error) {
	if err := checkSharedKey(key); err != nil {
		return 0, err
	}
	if len(value) > maxSharedValue {
		return 0, fmt.Errorf("shared %s: value of %d bytes exceeds %d: %w", key, len(value), maxSharedValue, ErrInvalidRecord)
	}
	if db.readOnly {
		return 0, fmt.Errorf("%s: %w", db.path, ErrReadOnly)
	}
	var newRev uint64
	value = db.seal.sealShared(key, value)
	err := db.tx(ctx, true, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketShared)
		if err != nil {
			return err
		}
		now := db.now()
		_, cur, _ := decodeShared(b.Get([]byte(key)), now)
		if cur != rev {
			return fmt.Errorf("shared %s: %w", key, ErrConflict)
		}
		meta := tx.Bucket(bucketMeta)
		newRev = getU64(meta.Get(keySharedRev)) + 1
		if err := meta.Put(keySharedRev, u64(newRev)); err != nil {
			return err
		}
		var exp int64
		if ttl > 0 {
			exp = now.Add(ttl).UnixNano()
		}
		buf := make([]byte, 16, 16+len(value))
		binary.BigEndian.PutUint64(buf, newRev)
		binary.BigEndian.PutUint64(buf[8:], uint64(exp))
		return b.Put([]byte(key), append(buf, value...))
	})
	if err != nil {
		return 0, fmt.Errorf("shared %s: writing: %w", key, err)
	}
	return newRev, nil
}

// DeleteShared removes key.
func (db *DB) DeleteShared(ctx context.Context, key string) error {
	if err := checkSharedKey(key); err != nil {
		return err
	}
	if db.readOnly {
		return fmt.Errorf("%s: %w", db.path, ErrReadOnly)
	}
	err := db.tx(ctx, true, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketShared)
		if b == nil {
			return nil
		}
		// Drop expired neighbours too, so that expired values do not pile
		// up in a store whose keys are never read again.
		now := db.now()
		var dead [][]byte
		_ = b.ForEach(func(k, v []byte) error {
			if _, _, ok := decodeShared(v, now); !ok || string(k) == key {
				dead = append(dead, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range dead {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("shared %s: deleting: %w", key, err)
	}
	return nil
}

// decodeShared splits a stored shared value; ok is false for a missing,
// malformed or expired one (whose revision is reported as 0).
func decodeShared(v []byte, now time.Time) (val []byte, rev uint64, ok bool) {
	if len(v) < 16 {
		return nil, 0, false
	}
	exp := int64(binary.BigEndian.Uint64(v[8:16]))
	if exp != 0 && now.UnixNano() >= exp {
		return nil, 0, false
	}
	return v[16:], binary.BigEndian.Uint64(v[:8]), true
}
