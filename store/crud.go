package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"
)

// Get returns the certificate called name, or an error wrapping
// [ErrNotFound].
func (db *DB) Get(ctx context.Context, name string) (*Certificate, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	var c *Certificate
	err := db.view(ctx, func(b *buckets) (err error) {
		c, err = b.cert(name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: reading: %w", name, err)
	}
	if c == nil {
		return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	return c, nil
}

// List returns every certificate sorted by name.
func (db *DB) List(ctx context.Context) ([]*Certificate, error) {
	var out []*Certificate
	err := db.Each(ctx, func(c *Certificate) error { out = append(out, c); return nil })
	return out, err
}

// Each calls fn with every certificate sorted by name, decoded one at a
// time, inside one read transaction (see [Backend]).
func (db *DB) Each(ctx context.Context, fn func(*Certificate) error) error {
	err := db.view(ctx, func(b *buckets) error {
		return b.certs.ForEach(func(k, v []byte) error {
			c, err := b.decode(string(k), v)
			if err != nil {
				return err
			}
			return fn(c)
		})
	})
	if err != nil {
		return fmt.Errorf("listing: %w", err)
	}
	return nil
}

// Due returns the certificates whose Renewal.Next is at or before before,
// ordered by Renewal.Next then name. It scans only the due part of the index.
func (db *DB) Due(ctx context.Context, before time.Time) ([]*Certificate, error) {
	limit := sortableTime(before)
	return collect(ctx, db, "listing due", func(b *buckets, add func(*Certificate)) error {
		cur := b.due.Cursor()
		for k, _ := cur.First(); len(k) > 8; k, _ = cur.Next() {
			if binary.BigEndian.Uint64(k[:8]) > limit {
				break
			}
			name := string(k[8:])
			c, err := b.cert(name)
			if err != nil {
				return err
			}
			if c == nil {
				return fmt.Errorf("%s: indexed as due but has no record: %w", name, ErrInvalidRecord)
			}
			add(c)
		}
		return nil
	})
}

// collect runs fn in a read transaction and returns the values it passed to
// add, in order; an error is wrapped with op.
func collect[T any](ctx context.Context, db *DB, op string, fn func(b *buckets, add func(T)) error) ([]T, error) {
	var out []T
	err := db.view(ctx, func(b *buckets) error {
		return fn(b, func(v T) { out = append(out, v) })
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// NextDue returns the earliest Renewal.Next of any certificate, and false
// when none is scheduled. It reads one index entry.
func (db *DB) NextDue(ctx context.Context) (time.Time, bool, error) {
	var (
		at time.Time
		ok bool
	)
	err := db.view(ctx, func(b *buckets) error {
		k, _ := b.due.Cursor().First()
		if len(k) > 8 {
			n := int64(binary.BigEndian.Uint64(k[:8]) ^ (1 << 63))
			at, ok = time.Unix(0, n), true
		}
		return nil
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due: %w", err)
	}
	return at, ok, nil
}

// Put writes c if the stored revision equals c.Revision (0: c must not exist
// yet), else returns an error wrapping [ErrConflict]. On success it sets
// c.Revision, c.Updated (and c.Created if zero) and trims c.Versions to
// [MaxVersions]; on failure c is unchanged.
func (db *DB) Put(ctx context.Context, c *Certificate) error {
	rec, data, err := encodeCert(db.seal, c, db.now())
	if err != nil {
		return err
	}
	var rev uint64
	err = db.update(ctx, func(b *buckets, gen uint64) error {
		if stored := b.revision(c.Name); stored != c.Revision {
			return fmt.Errorf("stored revision %d, caller has %d: %w", stored, c.Revision, ErrConflict)
		}
		if err := b.seal.checkWrite(b.meta.Get(keySealMark), certHasPlainKey(c)); err != nil {
			return err
		}
		rev = gen
		return b.write([]byte(c.Name), data, rec.Renewal.Next, gen)
	})
	if err != nil {
		return fmt.Errorf("%s: writing: %w", c.Name, err)
	}
	c.Versions = rec.Versions
	c.Created = rec.Created
	c.Updated = rec.Updated
	c.Revision = rev
	c.chainChecked = rec.chainChecked
	return nil
}

// PutAll writes every certificate of certs in one transaction, each as Put
// would (its revision compared, then set with Created and Updated): all of
// them, or none when any fails. It is for bulk tools (imports, the
// benchmarks' synthetic stores): one transaction saves the open, commit
// and fsync per record that Put costs, at the price of holding the store
// for the whole write, so split a large import into batches of a few
// thousand. Two certificates of one call must not share a name.
func (db *DB) PutAll(ctx context.Context, certs []*Certificate) error {
	type encoded struct {
		rec  Certificate
		data []byte
	}
	enc := make([]encoded, len(certs))
	seen := make(map[string]bool, len(certs))
	for i, c := range certs {
		if seen[c.Name] {
			return fmt.Errorf("%s: writing: named twice in one batch: %w", c.Name, ErrInvalidRecord)
		}
		seen[c.Name] = true
		rec, data, err := encodeCert(db.seal, c, db.now())
		if err != nil {
			return err
		}
		enc[i] = encoded{rec, data}
	}
	var rev uint64
	err := db.update(ctx, func(b *buckets, gen uint64) error {
		for i, c := range certs {
			if stored := b.revision(c.Name); stored != c.Revision {
				return fmt.Errorf("%s: stored revision %d, caller has %d: %w", c.Name, stored, c.Revision, ErrConflict)
			}
			if err := b.seal.checkWrite(b.meta.Get(keySealMark), certHasPlainKey(c)); err != nil {
				return fmt.Errorf("%s: %w", c.Name, err)
			}
			if err := b.write([]byte(c.Name), enc[i].data, enc[i].rec.Renewal.Next, gen); err != nil {
				return fmt.Errorf("%s: %w", c.Name, err)
			}
		}
		rev = gen
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing %d certificates: %w", len(certs), err)
	}
	for i, c := range certs {
		rec := &enc[i].rec
		c.Versions, c.Created, c.Updated, c.Revision, c.chainChecked = rec.Versions, rec.Created, rec.Updated, rev, rec.chainChecked
	}
	return nil
}

// Delete removes the certificate called name, or returns an error wrapping
// [ErrNotFound]. Its lock file, if any, is left in place.
func (db *DB) Delete(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	key := []byte(name)
	err := db.update(ctx, func(b *buckets, _ uint64) error {
		if b.certs.Get(key) == nil {
			return ErrNotFound
		}
		b.dropped = true
		if err := b.unindex(key); err != nil {
			return err
		}
		if err := b.certs.Delete(key); err != nil {
			return err
		}
		return b.revs.Delete(key)
	})
	if err != nil {
		return fmt.Errorf("%s: deleting: %w", name, err)
	}
	return nil
}

// accountKey is the key of the account for (directory, email).
func accountKey(directory, email string) []byte {
	return []byte(directory + "\x00" + email)
}

// GetAccount returns the account for (directory, email), or an error wrapping
// [ErrNotFound].
func (db *DB) GetAccount(ctx context.Context, directory, email string) (*Account, error) {
	var a *Account
	err := db.view(ctx, func(b *buckets) (err error) {
		k := accountKey(directory, email)
		if v := b.accounts.Get(k); v != nil {
			a, err = decodeAccount(b.seal, string(k), v)
		}
		return err
	})
	subject := accountSubject(directory, email)
	if err != nil {
		return nil, fmt.Errorf("%s: reading: %w", subject, err)
	}
	if a == nil {
		return nil, fmt.Errorf("%s: %w", subject, ErrNotFound)
	}
	return a, nil
}

// PutAccount creates or replaces the account for (a.Directory, a.Email),
// setting a.Created when it is zero.
func (db *DB) PutAccount(ctx context.Context, a *Account) error {
	rec, data, err := encodeAccount(db.seal, a, db.now())
	if err != nil {
		return err
	}
	err = db.update(ctx, func(b *buckets, _ uint64) error {
		if err := b.seal.checkWrite(b.meta.Get(keySealMark), a.KeyPEM != nil); err != nil {
			return err
		}
		key := accountKey(a.Directory, a.Email)
		if dropsKeys(b.accounts.Get(key), data) {
			b.dropped = true
		}
		return b.accounts.Put(key, data)
	})
	if err != nil {
		return fmt.Errorf("%s: writing: %w", accountSubject(a.Directory, a.Email), err)
	}
	a.Created = rec.Created
	return nil
}

// ListAccounts returns every account, sorted by directory then email.
func (db *DB) ListAccounts(ctx context.Context) ([]*Account, error) {
	return collect(ctx, db, "listing accounts", func(b *buckets, add func(*Account)) error {
		return b.accounts.ForEach(func(k, v []byte) error {
			a, err := decodeAccount(b.seal, string(k), v)
			if err != nil {
				return err
			}
			add(a)
			return nil
		})
	})
}

// Generation returns the counter that every write increases by one. It reads
// one key, so pollers can call it often.
func (db *DB) Generation(ctx context.Context) (uint64, error) {
	var gen uint64
	err := db.view(ctx, func(b *buckets) error { gen = b.generation(); return nil })
	if err != nil {
		return 0, fmt.Errorf("reading generation: %w", err)
	}
	return gen, nil
}

// Revisions returns the revision of every certificate by name, without
// decoding any record.
func (db *DB) Revisions(ctx context.Context) (map[string]uint64, error) {
	out := make(map[string]uint64)
	err := db.view(ctx, func(b *buckets) error {
		return b.revs.ForEach(func(k, v []byte) error {
			out[string(k)] = getU64(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("reading revisions: %w", err)
	}
	return out, nil
}
