package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bucket names and meta keys of the stored layout.
var (
	bucketMeta     = []byte("meta")     // schema, generation
	bucketCerts    = []byte("certs")    // name -> JSON Certificate
	bucketRevs     = []byte("revs")     // name -> 8-byte revision
	bucketDue      = []byte("due")      // 8-byte sortable Renewal.Next + name -> nil
	bucketNext     = []byte("next")     // name -> 8-byte sortable Renewal.Next (to find its due key)
	bucketAccounts = []byte("accounts") // directory + "\x00" + email -> JSON Account

	keySchema     = []byte("schema")
	keyGeneration = []byte("generation")
	keySealMark   = []byte("seal") // the store key's id while the store is sealed (see sealMark)
)

// allBuckets lists every bucket a store has.
var allBuckets = [][]byte{bucketMeta, bucketCerts, bucketRevs, bucketDue, bucketNext, bucketAccounts}

// buckets are the buckets of one transaction.
type buckets struct {
	meta, certs, revs, due, next, accounts *bolt.Bucket
	// dropped is set by a write that removes private key material (a
	// trimmed version, a deleted record, a replaced account key): the
	// transaction then wipes the pages it freed.
	dropped bool
	seal    *sealer
}

// load fetches the buckets of tx and checks the schema.
func (db *DB) load(tx *bolt.Tx) (*buckets, error) {
	b := &buckets{
		meta:     tx.Bucket(bucketMeta),
		certs:    tx.Bucket(bucketCerts),
		revs:     tx.Bucket(bucketRevs),
		due:      tx.Bucket(bucketDue),
		next:     tx.Bucket(bucketNext),
		accounts: tx.Bucket(bucketAccounts),
		seal:     db.seal,
	}
	if err := db.checkSchema(b.meta); err != nil {
		return nil, err
	}
	if b.certs == nil || b.revs == nil || b.due == nil || b.next == nil || b.accounts == nil {
		return nil, fmt.Errorf("store %s: buckets missing: %w", db.path, ErrNotStore)
	}
	return b, nil
}

// view runs fn in a read transaction.
func (db *DB) view(ctx context.Context, fn func(*buckets) error) error {
	return db.tx(ctx, false, func(tx *bolt.Tx) error {
		b, err := db.load(tx)
		if err != nil {
			return err
		}
		return fn(b)
	})
}

// update runs fn in a write transaction and bumps the generation with it.
// fn receives the generation the write will produce.
func (db *DB) update(ctx context.Context, fn func(b *buckets, gen uint64) error) error {
	if db.readOnly {
		return fmt.Errorf("%s: %w", db.path, ErrReadOnly)
	}
	var scrub bool
	return db.txScrub(ctx, true, &scrub, func(tx *bolt.Tx) error {
		b, err := db.load(tx)
		if err != nil {
			return err
		}
		gen := b.generation() + 1
		if err := fn(b, gen); err != nil {
			return err
		}
		scrub = b.dropped
		return b.meta.Put(keyGeneration, u64(gen))
	})
}

func (b *buckets) generation() uint64 { return getU64(b.meta.Get(keyGeneration)) }

func (b *buckets) revision(name string) uint64 { return getU64(b.revs.Get([]byte(name))) }

// cert decodes the record of name; nil if absent.
func (b *buckets) cert(name string) (*Certificate, error) {
	v := b.certs.Get([]byte(name))
	if v == nil {
		return nil, nil
	}
	return b.decode(name, v)
}

// decode unmarshals a stored record (copying it out of the mmap) and sets
// its revision.
func (b *buckets) decode(name string, v []byte) (*Certificate, error) {
	return decodeCert(b.seal, name, v, b.revision(name))
}

// The encodings below are shared by both backends: a record or an account
// is stored as the same JSON in bbolt and in etcd.

// encodeCert prepares the stored form of c written at now: a copy with its
// versions trimmed to [MaxVersions], Created set when zero and Updated set
// to now, and that copy's JSON with its private keys sealed when s has a
// write key. c itself is not changed.
func encodeCert(s *sealer, c *Certificate, now time.Time) (rec Certificate, data []byte, err error) {
	if err := c.validate(); err != nil {
		return rec, nil, err
	}
	rec = *c
	rec.Versions = slices.Clone(c.Versions)
	rec.trimVersions()
	now = now.UTC()
	if rec.Created.IsZero() {
		rec.Created = now
	}
	rec.Updated = now
	rec.chainChecked = chainMark(&rec)
	data, err = marshalCert(s, &rec)
	return rec, data, err
}

// marshalCert is the JSON of rec as stored, its private keys sealed when s
// has a write key.
func marshalCert(s *sealer, rec *Certificate) ([]byte, error) {
	stored := *rec
	stored.Versions = slices.Clone(rec.Versions)
	for i := range stored.Versions {
		v := &stored.Versions[i]
		v.KeyPEM, v.SealedKey = s.storedKey(v.KeyPEM, v.SealedKey, certAAD(rec.Name, v.Seq))
	}
	data, err := json.Marshal(storedCert{Certificate: &stored, ChainChecked: rec.chainChecked})
	if err != nil {
		return nil, fmt.Errorf("%s: encoding record: %w", rec.Name, err)
	}
	return data, nil
}

// storedCert is the JSON of a stored record: the Certificate and its chain
// check mark, which callers of the package cannot set.
type storedCert struct {
	*Certificate
	ChainChecked []byte `json:"chain_checked,omitempty"`
}

// decodeCert unmarshals a stored record into a new Certificate with the
// given revision, opening its sealed keys with s where it can.
func decodeCert(s *sealer, name string, v []byte, rev uint64) (*Certificate, error) {
	c := new(Certificate)
	sc := storedCert{Certificate: c}
	if err := json.Unmarshal(v, &sc); err != nil {
		return nil, fmt.Errorf("%s: decoding record: %w: %w", name, ErrCorrupt, err)
	}
	c.chainChecked = sc.ChainChecked
	for i := range c.Versions {
		ver := &c.Versions[i]
		ver.KeyPEM, ver.SealedKey, ver.keyErr = s.openKey(ver.KeyPEM, ver.SealedKey, certAAD(c.Name, ver.Seq))
	}
	c.Revision = rev
	return c, nil
}

// accountSubject names an account in errors.
func accountSubject(directory, email string) string {
	return fmt.Sprintf("account %s (%q)", directory, email)
}

// encodeAccount prepares the stored form of a: a copy with Created set to
// now when zero, and its JSON with its key sealed when s has a write key.
// a itself is not changed.
func encodeAccount(s *sealer, a *Account, now time.Time) (rec Account, data []byte, err error) {
	subject := accountSubject(a.Directory, a.Email)
	if a.Directory == "" || strings.IndexByte(a.Directory, 0) >= 0 {
		return rec, nil, fmt.Errorf("%s: directory must be a non-empty URL: %w", subject, ErrInvalidRecord)
	}
	rec = *a
	if rec.Created.IsZero() {
		rec.Created = now.UTC()
	}
	data, err = marshalAccount(s, &rec)
	return rec, data, err
}

// marshalAccount is the JSON of rec as stored (see marshalCert).
func marshalAccount(s *sealer, rec *Account) ([]byte, error) {
	stored := *rec
	stored.KeyPEM, stored.SealedKey = s.storedKey(rec.KeyPEM, rec.SealedKey, accountAAD(rec.Directory, rec.Email))
	data, err := json.Marshal(&stored)
	if err != nil {
		return nil, fmt.Errorf("%s: encoding: %w", accountSubject(rec.Directory, rec.Email), err)
	}
	return data, nil
}

// decodeAccount unmarshals a stored account, opening its key with s where
// it can; key names it in errors.
func decodeAccount(s *sealer, key string, v []byte) (*Account, error) {
	a := new(Account)
	if err := json.Unmarshal(v, a); err != nil {
		return nil, fmt.Errorf("account %q: decoding: %w", key, err)
	}
	a.KeyPEM, a.SealedKey, a.keyErr = s.openKey(a.KeyPEM, a.SealedKey, accountAAD(a.Directory, a.Email))
	return a, nil
}

// write stores one encoded record with its revision and due index entry.
func (b *buckets) write(key, data []byte, next time.Time, rev uint64) error {
	if err := b.unindex(key); err != nil {
		return err
	}
	if !next.IsZero() {
		t := u64(sortableTime(next))
		if err := b.due.Put(append(t, key...), nil); err != nil {
			return err
		}
		if err := b.next.Put(key, t); err != nil {
			return err
		}
	}
	if dropsKeys(b.certs.Get(key), data) {
		b.dropped = true
	}
	if err := b.certs.Put(key, data); err != nil {
		return err
	}
	return b.revs.Put(key, u64(rev))
}

// unindex removes the due index entry of key, if any.
func (b *buckets) unindex(key []byte) error {
	old := b.next.Get(key)
	if old == nil {
		return nil
	}
	if err := b.due.Delete(append(bytes.Clone(old), key...)); err != nil {
		return err
	}
	return b.next.Delete(key)
}

// u64 encodes n as 8 big-endian bytes.
func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n) }

// getU64 decodes 8 big-endian bytes; anything else is 0.
func getU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// Bounds of times that UnixNano represents.
var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

// sortableTime maps t to a uint64 whose big-endian bytes sort like t,
// clamping times outside the UnixNano range.
func sortableTime(t time.Time) uint64 {
	var n int64
	switch {
	case t.Before(minNanoTime):
		n = math.MinInt64
	case t.After(maxNanoTime):
		n = math.MaxInt64
	default:
		n = t.UnixNano()
	}
	return uint64(n) ^ (1 << 63)
}
