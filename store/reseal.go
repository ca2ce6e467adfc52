package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ResealStats counts what [Reseal] did.
type ResealStats struct {
	// Certificates and Accounts are the records rewritten.
	Certificates, Accounts int
	// Keys are the private keys in the records rewritten.
	Keys int
	// Shared are the shared values (session ticket keys...) rewritten.
	Shared int
	// Unchanged are the records (certificates and accounts) that were in
	// the asked form already.
	Unchanged int
}

// resealHook, when set (by tests), runs before each record is rewritten.
var resealHook func(ctx context.Context, name string)

// Reseal rewrites every private key of b (every version of every
// certificate, every account) and every shared value in the form b's
// options ask for: sealed with
// [Options.SealKey] when it is set, in plaintext when it is not. Keys are
// opened with SealKey or one of [Options.UnsealKeys]; a key none of them
// opens stops Reseal with an error wrapping [ErrSealed], [ErrWrongKey] or
// [ErrSealDamaged]. So with SealKey it seals a store, with UnsealKeys only
// it unseals one, and with both it changes the store key.
//
// Only the form of the keys changes: records keep their contents and
// their Updated time. Each record is rewritten atomically, compared and
// swapped on its revision, so writers running meanwhile lose nothing. On
// bbolt the whole store is rewritten in one transaction: interrupted, it
// leaves the store as it was. On etcd records are rewritten one by one: a
// record is always either in its old form or in the new one, and running
// Reseal again (with the old key among UnsealKeys) finishes the work. On
// bbolt the pages that held the old forms are wiped.
func Reseal(ctx context.Context, b Backend) (ResealStats, error) {
	switch s := b.(type) {
	case *DB:
		return s.reseal(ctx)
	case *Etcd:
		return s.reseal(ctx)
	}
	return ResealStats{}, fmt.Errorf("store %s: resealing: not supported by this backend", b.Location())
}

// checkKeys fails when a key of c stays sealed.
func checkKeys(c *Certificate) (keys int, err error) {
	for i := range c.Versions {
		v := &c.Versions[i]
		if _, err := v.Key(); err != nil && !errors.Is(err, ErrNoKey) {
			return 0, fmt.Errorf("%s: %w", c.Name, err)
		}
		if v.KeyPEM != nil {
			keys++
		}
	}
	return keys, nil
}

// checkAccountKey fails when a's key stays sealed.
func checkAccountKey(a *Account) (keys int, err error) {
	if _, err := a.Key(); err != nil {
		return 0, err
	}
	if a.KeyPEM != nil {
		keys++
	}
	return keys, nil
}

// reseal rewrites the whole store in one write transaction.
func (db *DB) reseal(ctx context.Context) (ResealStats, error) {
	var st ResealStats
	err := db.update(ctx, func(b *buckets, gen uint64) error {
		st = ResealStats{}
		type rewrite struct {
			key, data []byte
			next      time.Time
		}
		var certs, accts []rewrite
		err := b.certs.ForEach(func(k, v []byte) error {
			c, err := b.decode(string(k), v)
			if err != nil {
				return err
			}
			n, err := checkKeys(c)
			if err != nil {
				return err
			}
			data, err := marshalCert(b.seal, c)
			if err != nil {
				return err
			}
			if bytes.Equal(data, v) {
				st.Unchanged++
				return nil
			}
			st.Certificates++
			st.Keys += n
			certs = append(certs, rewrite{bytes.Clone(k), data, c.Renewal.Next})
			return nil
		})
		if err != nil {
			return err
		}
		err = b.accounts.ForEach(func(k, v []byte) error {
			a, err := decodeAccount(b.seal, string(k), v)
			if err != nil {
				return err
			}
			n, err := checkAccountKey(a)
			if err != nil {
				return err
			}
			data, err := marshalAccount(b.seal, a)
			if err != nil {
				return err
			}
			if bytes.Equal(data, v) {
				st.Unchanged++
				return nil
			}
			st.Accounts++
			st.Keys += n
			accts = append(accts, rewrite{key: bytes.Clone(k), data: data})
			return nil
		})
		if err != nil {
			return err
		}
		// Always wipe the free pages, even when nothing was left to
		// convert: a conversion killed between its commit and its wipe left
		// the old forms there, and running it again clears them.
		b.dropped = true
		if mark := b.seal.mark(); mark != nil {
			if err := b.meta.Put(keySealMark, mark); err != nil {
				return err
			}
		} else if err := b.meta.Delete(keySealMark); err != nil {
			return err
		}
		for _, r := range certs {
			if resealHook != nil {
				resealHook(ctx, string(r.key))
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := b.write(r.key, r.data, r.next, gen); err != nil {
				return err
			}
		}
		if err := b.resealShared(db.now(), &st); err != nil {
			return err
		}
		for _, r := range accts {
			if resealHook != nil {
				resealHook(ctx, string(r.key))
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if dropsKeys(b.accounts.Get(r.key), r.data) {
				b.dropped = true
			}
			if err := b.accounts.Put(r.key, r.data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return ResealStats{}, fmt.Errorf("store %s: resealing: %w", db.path, err)
	}
	return st, nil
}

// reseal rewrites the records one by one, each in its own transaction
// compared on the record's revision.
func (e *Etcd) reseal(ctx context.Context) (ResealStats, error) {
	var st ResealStats
	if e.readOnly {
		return st, fmt.Errorf("%s: %w", e.loc, ErrReadOnly)
	}
	// Sealing: mark the store first, so that from now on no write puts a
	// key in plaintext or under another key. Unsealing: unmark it last.
	// First check that every key opens, so that a wrong key changes
	// nothing, not even the mark.
	if err := e.checkAllKeys(ctx); err != nil {
		return st, fmt.Errorf("store %s: resealing: %w", e.loc, err)
	}
	mark := e.seal.mark()
	if mark != nil {
		if err := e.setSealMark(ctx, mark); err != nil {
			return st, fmt.Errorf("store %s: resealing: %w", e.loc, err)
		}
	}
	revs, err := e.Revisions(ctx)
	if err != nil {
		return st, fmt.Errorf("store %s: resealing: %w", e.loc, err)
	}
	names := make([]string, 0, len(revs))
	for name := range revs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := e.resealCert(ctx, name, &st); err != nil {
			return st, fmt.Errorf("store %s: resealing: %w", e.loc, err)
		}
	}
	p := e.pfx + "accounts/"
	rctx, cancel := e.reqCtx(ctx)
	resp, err := e.cli.Get(rctx, p, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	cancel()
	if err != nil {
		return st, fmt.Errorf("store %s: resealing: %w", e.loc, e.classify(ctx, err))
	}
	for _, kv := range resp.Kvs {
		if err := e.resealAccount(ctx, string(kv.Key), &st); err != nil {
			return st, fmt.Errorf("store %s: resealing: %w", e.loc, err)
		}
	}
	if err := e.resealShared(ctx, &st, false); err != nil {
		return st, fmt.Errorf("store %s: resealing: %w", e.loc, err)
	}
	if mark == nil {
		if err := e.setSealMark(ctx, nil); err != nil {
			return st, fmt.Errorf("store %s: resealing: %w", e.loc, err)
		}
	}
	return st, nil
}

// checkAllKeys fails when a key of the store stays sealed.
func (e *Etcd) checkAllKeys(ctx context.Context) error {
	certs, err := e.List(ctx)
	if err != nil {
		return err
	}
	for _, c := range certs {
		if _, err := checkKeys(c); err != nil {
			return err
		}
	}
	accts, err := e.ListAccounts(ctx)
	if err != nil {
		return err
	}
	for _, a := range accts {
		if _, err := checkAccountKey(a); err != nil {
			return err
		}
	}
	return e.resealShared(ctx, nil, true)
}

// setSealMark writes the seal mark, or removes it when mark is nil.
func (e *Etcd) setSealMark(ctx context.Context, mark []byte) error {
	op := clientv3.OpDelete(e.sealMarkKey())
	if mark != nil {
		op = clientv3.OpPut(e.sealMarkKey(), string(mark))
	}
	rctx, cancel := e.reqCtx(ctx)
	_, err := e.cli.Do(rctx, op)
	cancel()
	return e.classify(ctx, err)
}

// resealCert rewrites one record, reading it again when another writer
// got in between.
func (e *Etcd) resealCert(ctx context.Context, name string, st *ResealStats) error {
	for range updateAttempts {
		rctx, cancel := e.reqCtx(ctx)
		resp, err := e.cli.Txn(rctx).Then(clientv3.OpGet(e.certKey(name)), clientv3.OpGet(e.revKey(name))).Commit()
		cancel()
		if err != nil {
			return e.classify(ctx, err)
		}
		kv := first(resp, 0)
		if kv == nil {
			return nil // deleted meanwhile
		}
		rev, err := parseU64(value(first(resp, 1)))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		c, err := decodeCert(e.seal, name, kv.Value, rev)
		if err != nil {
			return err
		}
		n, err := checkKeys(c)
		if err != nil {
			return err
		}
		data, err := marshalCert(e.seal, c)
		if err != nil {
			return err
		}
		if bytes.Equal(data, kv.Value) {
			st.Unchanged++
			return nil
		}
		if resealHook != nil {
			resealHook(ctx, name)
		}
		_, err = e.commit(ctx, name, func(s *writeState) error {
			if s.rev != rev {
				return fmt.Errorf("%s: %w", name, ErrConflict)
			}
			return nil
		}, func(_ *writeState, gen string) []clientv3.Op {
			return []clientv3.Op{clientv3.OpPut(e.certKey(name), string(data)), clientv3.OpPut(e.revKey(name), gen)}
		})
		switch {
		case err == nil:
			st.Certificates++
			st.Keys += n
			return nil
		case errors.Is(err, ErrConflict):
			continue
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return fmt.Errorf("%s: gave up after %d attempts: %w", name, updateAttempts, ErrConflict)
}

// resealAccount rewrites the account at key, compared on its etcd
// revision.
func (e *Etcd) resealAccount(ctx context.Context, key string, st *ResealStats) error {
	for range updateAttempts {
		rctx, cancel := e.reqCtx(ctx)
		resp, err := e.cli.Get(rctx, key)
		cancel()
		if err != nil {
			return e.classify(ctx, err)
		}
		if len(resp.Kvs) == 0 {
			return nil
		}
		kv := resp.Kvs[0]
		a, err := decodeAccount(e.seal, key, kv.Value)
		if err != nil {
			return err
		}
		n, err := checkAccountKey(a)
		if err != nil {
			return err
		}
		data, err := marshalAccount(e.seal, a)
		if err != nil {
			return err
		}
		if bytes.Equal(data, kv.Value) {
			st.Unchanged++
			return nil
		}
		if resealHook != nil {
			resealHook(ctx, key)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rctx, cancel = e.reqCtx(ctx)
		tr, err := e.cli.Txn(rctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
			Then(clientv3.OpPut(key, string(data))).Commit()
		cancel()
		if err != nil {
			return e.classify(ctx, err)
		}
		if tr.Succeeded {
			st.Accounts++
			st.Keys += n
			return nil
		}
	}
	return fmt.Errorf("account %q: gave up after %d attempts: %w", key, updateAttempts, ErrConflict)
}

// resealShared rewrites the shared values of a bbolt store, keeping their
// revisions and expiry.
func (b *buckets) resealShared(now time.Time, st *ResealStats) error {
	sb := b.meta.Tx().Bucket(bucketShared)
	if sb == nil {
		return nil
	}
	type rewrite struct{ key, data []byte }
	var todo []rewrite
	err := sb.ForEach(func(k, v []byte) error {
		val, _, ok := decodeShared(v, now)
		if !ok {
			return nil // expired: dropped by the next DeleteShared
		}
		plain, err := b.seal.openShared(string(k), val)
		if err != nil {
			return fmt.Errorf("shared %s: %w", k, err)
		}
		data := append(bytes.Clone(v[:16]), b.seal.sealShared(string(k), plain)...)
		if !bytes.Equal(data, v) {
			todo = append(todo, rewrite{bytes.Clone(k), data})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range todo {
		if err := sb.Put(r.key, r.data); err != nil {
			return err
		}
		st.Shared++
		b.dropped = true // wipe the old forms
	}
	return nil
}

// resealShared rewrites the shared values of an etcd store, each compared
// on its revision, keeping its lease.
func (e *Etcd) resealShared(ctx context.Context, st *ResealStats, check bool) error {
	p := e.pfx + "shared/"
	rctx, cancel := e.reqCtx(ctx)
	resp, err := e.cli.Get(rctx, p, clientv3.WithPrefix())
	cancel()
	if err != nil {
		return e.classify(ctx, err)
	}
	for _, kv := range resp.Kvs {
		key := strings.TrimPrefix(string(kv.Key), p)
		plain, err := e.seal.openShared(key, kv.Value)
		if err != nil {
			return fmt.Errorf("shared %s: %w", key, err)
		}
		data := e.seal.sealShared(key, plain)
		if check || bytes.Equal(data, kv.Value) {
			continue
		}
		rctx, cancel := e.reqCtx(ctx)
		tr, err := e.cli.Txn(rctx).If(clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision)).
			Then(clientv3.OpPut(string(kv.Key), string(data), clientv3.WithIgnoreLease())).Commit()
		cancel()
		if err != nil {
			return e.classify(ctx, err)
		}
		if tr.Succeeded {
			st.Shared++
		}
		// Otherwise it was written meanwhile (by a node with the new key, in
		// the new form; run Reseal again if some node has none).
	}
	return nil
}
