package store

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Sizes of etcd requests.
const (
	// etcdTxnNames is how many certificates one read transaction fetches:
	// two operations each, within etcd's default limit of 128.
	etcdTxnNames = 64
	// etcdPageRecords and etcdPageSmall are the page sizes of ranges over
	// records and over small values (revisions, due keys, accounts).
	etcdPageRecords = 64
	etcdPageSmall   = 1000
	// etcdWriteAttempts bounds the retries of a write that lost the race
	// for the generation to a write of another record.
	etcdWriteAttempts = 100
)

// Keys of the layout (see [Etcd]).
func (e *Etcd) genKey() string             { return e.pfx + "meta/generation" }
func (e *Etcd) sealMarkKey() string        { return e.pfx + "meta/seal" }
func (e *Etcd) certKey(name string) string { return e.pfx + "certs/" + name }
func (e *Etcd) revKey(name string) string  { return e.pfx + "revs/" + name }
func (e *Etcd) nextKey(name string) string { return e.pfx + "next/" + name }
func (e *Etcd) duePrefix() string          { return e.pfx + "due/" }
func (e *Etcd) dueKey(next, name string) string {
	return e.duePrefix() + next + "/" + name
}
func (e *Etcd) accountKey(directory, email string) string {
	return e.pfx + "accounts/" + url.PathEscape(directory) + "/" + url.PathEscape(email)
}
func (e *Etcd) lockPrefix(name string) string { return e.pfx + "locks/" + name }
func (e *Etcd) sharedKey(key string) string   { return e.pfx + "shared/" + key }

// sortableHex is the due index form of t: 16 hex digits that sort like t.
func sortableHex(t time.Time) string { return fmt.Sprintf("%016x", sortableTime(t)) }

// parseU64 decodes a decimal counter; a missing key (nil) is 0.
func parseU64(v []byte) (uint64, error) {
	if v == nil {
		return 0, nil
	}
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("counter %q: %w", v, ErrInvalidRecord)
	}
	return n, nil
}

// first returns the first key-value of the i-th response of a
// transaction, or nil.
func first(resp *clientv3.TxnResponse, i int) *mvccpb.KeyValue {
	if kvs := resp.Responses[i].GetResponseRange().Kvs; len(kvs) > 0 {
		return kvs[0]
	}
	return nil
}

// value returns kv's value, nil for a missing key.
func value(kv *mvccpb.KeyValue) []byte {
	if kv == nil {
		return nil
	}
	return kv.Value
}

// Get returns the certificate called name, or an error wrapping
// [ErrNotFound].
func (e *Etcd) Get(ctx context.Context, name string) (*Certificate, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	certs, _, err := e.getCerts(ctx, 0, []string{name})
	if err != nil {
		return nil, fmt.Errorf("%s: reading: %w", name, err)
	}
	if certs[0] == nil {
		return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	return certs[0], nil
}

// getCerts reads the records called names at revision rev (0: the
// current one), in batches of one transaction each. The result has one
// entry per name, nil for a name without a record; rev is returned (the
// current revision when it was 0).
func (e *Etcd) getCerts(ctx context.Context, rev int64, names []string) ([]*Certificate, int64, error) {
	out := make([]*Certificate, 0, len(names))
	for batch := range slices.Chunk(names, etcdTxnNames) {
		ops := make([]clientv3.Op, 0, 2*len(batch))
		for _, name := range batch {
			ops = append(ops, clientv3.OpGet(e.certKey(name), clientv3.WithRev(rev)), clientv3.OpGet(e.revKey(name), clientv3.WithRev(rev)))
		}
		rctx, cancel := e.reqCtx(ctx)
		resp, err := e.cli.Txn(rctx).Then(ops...).Commit()
		cancel()
		if err != nil {
			return nil, 0, e.classify(ctx, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for i, name := range batch {
			kv := first(resp, 2*i)
			if kv == nil {
				out = append(out, nil)
				continue
			}
			r, err := parseU64(value(first(resp, 2*i+1)))
			if err == nil && r == 0 {
				err = fmt.Errorf("no revision: %w", ErrInvalidRecord)
			}
			if err != nil {
				return nil, 0, fmt.Errorf("%s: %w", name, err)
			}
			c, err := decodeCert(e.seal, name, kv.Value, r)
			if err != nil {
				return nil, 0, err
			}
			out = append(out, c)
		}
	}
	return out, rev, nil
}

// rangeKeys calls fn for every key in [key, end) at revision rev (0: the
// current one), a page of limit keys per request, and returns the
// revision read.
func (e *Etcd) rangeKeys(ctx context.Context, rev int64, key, end string, limit int64, keysOnly bool, fn func(kv *mvccpb.KeyValue) error) (int64, error) {
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(limit), clientv3.WithRev(rev)}
		if keysOnly {
			opts = append(opts, clientv3.WithKeysOnly())
		}
		rctx, cancel := e.reqCtx(ctx)
		resp, err := e.cli.Get(rctx, key, opts...)
		cancel()
		if err != nil {
			return 0, e.classify(ctx, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			if err := fn(kv); err != nil {
				return 0, err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return rev, nil
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// rangePrefix is rangeKeys over every key starting with prefix.
func (e *Etcd) rangePrefix(ctx context.Context, rev int64, prefix string, limit int64, keysOnly bool, fn func(kv *mvccpb.KeyValue) error) (int64, error) {
	return e.rangeKeys(ctx, rev, prefix, clientv3.GetPrefixRangeEnd(prefix), limit, keysOnly, fn)
}

// revisionsAt reads every certificate's revision at rev (0: now).
func (e *Etcd) revisionsAt(ctx context.Context, rev int64) (map[string]uint64, int64, error) {
	out := make(map[string]uint64)
	p := e.pfx + "revs/"
	rev, err := e.rangePrefix(ctx, rev, p, etcdPageSmall, false, func(kv *mvccpb.KeyValue) error {
		name := strings.TrimPrefix(string(kv.Key), p)
		r, err := parseU64(kv.Value)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		out[name] = r
		return nil
	})
	return out, rev, err
}

// List returns every certificate sorted by name, as of one revision.
func (e *Etcd) List(ctx context.Context) ([]*Certificate, error) {
	var out []*Certificate
	err := e.Each(ctx, func(c *Certificate) error { out = append(out, c); return nil })
	return out, err
}

// Each calls fn with every certificate sorted by name, as of one revision,
// decoded one at a time as the pages of records arrive (see [Backend]).
func (e *Etcd) Each(ctx context.Context, fn func(*Certificate) error) error {
	revs, rev, err := e.revisionsAt(ctx, 0)
	if err != nil {
		return fmt.Errorf("listing: %w", err)
	}
	p := e.pfx + "certs/"
	_, err = e.rangePrefix(ctx, rev, p, etcdPageRecords, false, func(kv *mvccpb.KeyValue) error {
		name := strings.TrimPrefix(string(kv.Key), p)
		if revs[name] == 0 {
			return fmt.Errorf("%s: no revision: %w", name, ErrInvalidRecord)
		}
		c, err := decodeCert(e.seal, name, kv.Value, revs[name])
		if err != nil {
			return err
		}
		return fn(c)
	})
	if err != nil {
		return fmt.Errorf("listing: %w", err)
	}
	return nil
}

// Due returns the certificates whose Renewal.Next is at or before before,
// ordered by Renewal.Next then name. It ranges over the due part of the
// index, then reads those records at the same revision.
func (e *Etcd) Due(ctx context.Context, before time.Time) ([]*Certificate, error) {
	p := e.duePrefix()
	end := clientv3.GetPrefixRangeEnd(p)
	if limit := sortableTime(before); limit < ^uint64(0) {
		end = p + fmt.Sprintf("%016x", limit+1)
	}
	var names []string
	rev, err := e.rangeKeys(ctx, 0, p, end, etcdPageSmall, true, func(kv *mvccpb.KeyValue) error {
		_, name, ok := strings.Cut(strings.TrimPrefix(string(kv.Key), p), "/")
		if !ok {
			return fmt.Errorf("due index key %q: %w", kv.Key, ErrInvalidRecord)
		}
		names = append(names, name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing due: %w", err)
	}
	certs, _, err := e.getCerts(ctx, rev, names)
	if err != nil {
		return nil, fmt.Errorf("listing due: %w", err)
	}
	for i, c := range certs {
		if c == nil {
			return nil, fmt.Errorf("listing due: %s: indexed as due but has no record: %w", names[i], ErrInvalidRecord)
		}
	}
	return certs, nil
}

// NextDue returns the earliest Renewal.Next of any certificate, and false
// when none is scheduled. It reads one index key.
func (e *Etcd) NextDue(ctx context.Context) (time.Time, bool, error) {
	p := e.duePrefix()
	rctx, cancel := e.reqCtx(ctx)
	resp, err := e.cli.Get(rctx, p, clientv3.WithPrefix(), clientv3.WithLimit(1), clientv3.WithKeysOnly())
	cancel()
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due: %w", e.classify(ctx, err))
	}
	if len(resp.Kvs) == 0 {
		return time.Time{}, false, nil
	}
	k := strings.TrimPrefix(string(resp.Kvs[0].Key), p)
	n, err := strconv.ParseUint(k[:min(16, len(k))], 16, 64)
	if err != nil || len(k) < 17 {
		return time.Time{}, false, fmt.Errorf("next due: index key %q: %w", resp.Kvs[0].Key, ErrInvalidRecord)
	}
	return time.Unix(0, int64(n^(1<<63))), true, nil
}

// writeState is what a write reads before its transaction.
type writeState struct {
	gen     uint64 // the generation
	genMod  int64  // its key's mod revision
	rev     uint64 // the record's revision, 0 if absent
	revMod  int64  // its key's mod revision, 0 if absent
	next    string // the record's due index time, "" if none
	seal    []byte // the store's seal mark (see sealMark), nil if none
	sealMod int64  // its key's mod revision, 0 if absent
	lock    heldLock
	fenced  bool // this Etcd holds the record's lock
	lockNow *mvccpb.KeyValue
}

// lockLost reports whether a fenced write's lock key is gone or was
// created again by someone else.
func (s *writeState) lockLost() bool {
	return s.fenced && (s.lockNow == nil || s.lockNow.CreateRevision != s.lock.rev)
}

// readState reads the generation and, when name is not "", the record's
// revision, due time and lock key.
func (e *Etcd) readState(ctx context.Context, name string) (*writeState, error) {
	s := new(writeState)
	ops := []clientv3.Op{clientv3.OpGet(e.genKey()), clientv3.OpGet(e.sealMarkKey())}
	if name != "" {
		e.mu.Lock()
		s.lock, s.fenced = e.held[name]
		e.mu.Unlock()
		ops = append(ops, clientv3.OpGet(e.revKey(name)), clientv3.OpGet(e.nextKey(name)))
		if s.fenced {
			ops = append(ops, clientv3.OpGet(s.lock.key))
		}
	}
	rctx, cancel := e.reqCtx(ctx)
	resp, err := e.cli.Txn(rctx).Then(ops...).Commit()
	cancel()
	if err != nil {
		return nil, e.classify(ctx, err)
	}
	kv := first(resp, 0)
	if kv == nil {
		return nil, fmt.Errorf("store %s: no generation: %w", e.loc, ErrNotStore)
	}
	if s.gen, err = parseU64(kv.Value); err != nil {
		return nil, err
	}
	s.genMod = kv.ModRevision
	if kv := first(resp, 1); kv != nil {
		s.seal, s.sealMod = kv.Value, kv.ModRevision
	}
	if name == "" {
		return s, nil
	}
	if kv := first(resp, 2); kv != nil {
		if s.rev, err = parseU64(kv.Value); err != nil {
			return nil, err
		}
		s.revMod = kv.ModRevision
	}
	s.next = string(value(first(resp, 3)))
	if s.fenced {
		s.lockNow = first(resp, 4)
	}
	return s, nil
}

// commit runs one write: it reads the state, lets check refuse the write
// (a conflict, a missing record), then runs the transaction of ops
// (which may depend on the state) guarded by the generation, the record's
// revision and the lock fence, and the generation bump. It retries when
// another write moved the generation in between, and returns the
// generation written.
func (e *Etcd) commit(ctx context.Context, name string, check func(*writeState) error, ops func(*writeState, string) []clientv3.Op) (uint64, error) {
	if e.readOnly {
		return 0, fmt.Errorf("%s: %w", e.loc, ErrReadOnly)
	}
	for attempt := range etcdWriteAttempts {
		s, err := e.readState(ctx, name)
		if err != nil {
			return 0, err
		}
		if s.lockLost() {
			return 0, ErrLockLost
		}
		if err := check(s); err != nil {
			return 0, err
		}
		gen := s.gen + 1
		genStr := strconv.FormatUint(gen, 10)
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(e.genKey()), "=", s.genMod),
			clientv3.Compare(clientv3.ModRevision(e.sealMarkKey()), "=", s.sealMod)}
		var orElse []clientv3.Op
		if name != "" {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(e.revKey(name)), "=", s.revMod))
			if s.fenced {
				cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(s.lock.key), "=", s.lock.rev))
				orElse = append(orElse, clientv3.OpGet(s.lock.key))
			}
		}
		if e.beforeWrite != nil {
			e.beforeWrite()
		}
		then := append(ops(s, genStr), clientv3.OpPut(e.genKey(), genStr))
		rctx, cancel := e.reqCtx(ctx)
		resp, err := e.cli.Txn(rctx).If(cmps...).Then(then...).Else(orElse...).Commit()
		cancel()
		if err != nil {
			return 0, e.classify(ctx, err)
		}
		if resp.Succeeded {
			return gen, nil
		}
		if s.fenced {
			s.lockNow = first(resp, 0)
			if s.lockLost() {
				return 0, ErrLockLost
			}
		}
		// Another write got in between: read again. Writes of different
		// records contend for the generation only briefly; spread them.
		if attempt > 0 {
			d := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6)))
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return 0, ctx.Err()
			case <-t.C:
			}
		}
	}
	return 0, fmt.Errorf("gave up after %d attempts: %w", etcdWriteAttempts, ErrConflict)
}

// indexOps are the operations that move name's due index entry from
// old to next ("" for none).
func (e *Etcd) indexOps(name, old, next string) []clientv3.Op {
	if old == next {
		return nil
	}
	var ops []clientv3.Op
	if old != "" {
		ops = append(ops, clientv3.OpDelete(e.dueKey(old, name)))
	}
	if next != "" {
		ops = append(ops, clientv3.OpPut(e.dueKey(next, name), ""), clientv3.OpPut(e.nextKey(name), next))
	} else {
		ops = append(ops, clientv3.OpDelete(e.nextKey(name)))
	}
	return ops
}

// Put writes c if the stored revision equals c.Revision (0: c must not exist
// yet), else returns an error wrapping [ErrConflict]. While this Etcd holds
// the lock of c.Name, the write also requires the lock to be still held
// ([ErrLockLost]). On success it sets c.Revision, c.Updated (and c.Created
// if zero) and trims c.Versions to [MaxVersions]; on failure c is
// unchanged.
func (e *Etcd) Put(ctx context.Context, c *Certificate) error {
	rec, data, err := encodeCert(e.seal, c, e.now())
	if err != nil {
		return err
	}
	next := ""
	if !rec.Renewal.Next.IsZero() {
		next = sortableHex(rec.Renewal.Next)
	}
	gen, err := e.commit(ctx, c.Name, func(s *writeState) error {
		if s.rev != c.Revision {
			return fmt.Errorf("stored revision %d, caller has %d: %w", s.rev, c.Revision, ErrConflict)
		}
		return e.seal.checkWrite(s.seal, certHasPlainKey(c))
	}, func(s *writeState, gen string) []clientv3.Op {
		return append(e.indexOps(c.Name, s.next, next),
			clientv3.OpPut(e.certKey(c.Name), string(data)),
			clientv3.OpPut(e.revKey(c.Name), gen))
	})
	if err != nil {
		return fmt.Errorf("%s: writing: %w", c.Name, err)
	}
	c.Versions = rec.Versions
	c.Created = rec.Created
	c.Updated = rec.Updated
	c.Revision = gen
	c.chainChecked = rec.chainChecked
	return nil
}

// Delete removes the certificate called name, or returns an error wrapping
// [ErrNotFound]. Like Put, it is fenced by a lock this Etcd holds.
func (e *Etcd) Delete(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	_, err := e.commit(ctx, name, func(s *writeState) error {
		if s.rev == 0 {
			return ErrNotFound
		}
		return nil
	}, func(s *writeState, _ string) []clientv3.Op {
		return append(e.indexOps(name, s.next, ""),
			clientv3.OpDelete(e.certKey(name)),
			clientv3.OpDelete(e.revKey(name)))
	})
	if err != nil {
		return fmt.Errorf("%s: deleting: %w", name, err)
	}
	return nil
}

// GetAccount returns the account for (directory, email), or an error
// wrapping [ErrNotFound].
func (e *Etcd) GetAccount(ctx context.Context, directory, email string) (*Account, error) {
	subject := accountSubject(directory, email)
	k := e.accountKey(directory, email)
	rctx, cancel := e.reqCtx(ctx)
	resp, err := e.cli.Get(rctx, k)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%s: reading: %w", subject, e.classify(ctx, err))
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("%s: %w", subject, ErrNotFound)
	}
	a, err := decodeAccount(e.seal, k, resp.Kvs[0].Value)
	if err != nil {
		return nil, fmt.Errorf("%s: reading: %w", subject, err)
	}
	return a, nil
}

// PutAccount creates or replaces the account for (a.Directory, a.Email),
// setting a.Created when it is zero.
func (e *Etcd) PutAccount(ctx context.Context, a *Account) error {
	rec, data, err := encodeAccount(e.seal, a, e.now())
	if err != nil {
		return err
	}
	_, err = e.commit(ctx, "", func(s *writeState) error {
		return e.seal.checkWrite(s.seal, a.KeyPEM != nil)
	}, func(*writeState, string) []clientv3.Op {
		return []clientv3.Op{clientv3.OpPut(e.accountKey(a.Directory, a.Email), string(data))}
	})
	if err != nil {
		return fmt.Errorf("%s: writing: %w", accountSubject(a.Directory, a.Email), err)
	}
	a.Created = rec.Created
	return nil
}

// ListAccounts returns every account, sorted by directory then email.
func (e *Etcd) ListAccounts(ctx context.Context) ([]*Account, error) {
	var out []*Account
	_, err := e.rangePrefix(ctx, 0, e.pfx+"accounts/", etcdPageSmall, false, func(kv *mvccpb.KeyValue) error {
		a, err := decodeAccount(e.seal, string(kv.Key), kv.Value)
		if err != nil {
			return err
		}
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing accounts: %w", err)
	}
	slices.SortFunc(out, func(a, b *Account) int {
		return cmp.Or(strings.Compare(a.Directory, b.Directory), strings.Compare(a.Email, b.Email))
	})
	return out, nil
}

// Generation returns the counter that every write increases by one. It
// reads one key.
func (e *Etcd) Generation(ctx context.Context) (uint64, error) {
	rctx, cancel := e.reqCtx(ctx)
	resp, err := e.cli.Get(rctx, e.genKey())
	cancel()
	if err != nil {
		return 0, fmt.Errorf("reading generation: %w", e.classify(ctx, err))
	}
	if len(resp.Kvs) == 0 {
		return 0, fmt.Errorf("reading generation: store %s: no generation: %w", e.loc, ErrNotStore)
	}
	gen, err := parseU64(resp.Kvs[0].Value)
	if err != nil {
		return 0, fmt.Errorf("reading generation: %w", err)
	}
	return gen, nil
}

// Revisions returns the revision of every certificate by name, from the
// small revs/ keys, without reading any record.
func (e *Etcd) Revisions(ctx context.Context) (map[string]uint64, error) {
	out, _, err := e.revisionsAt(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("reading revisions: %w", err)
	}
	return out, nil
}

// LoadActive reads the active versions of the certificates called names,
// in the order of names, all at one revision (one transaction per 64
// names). A name without a record or without an active version is left
// out.
func (e *Etcd) LoadActive(ctx context.Context, names []string) ([]ActivePEM, error) {
	certs, _, err := e.getCerts(ctx, 0, names)
	if err != nil {
		return nil, fmt.Errorf("loading certificates: %w", err)
	}
	out := make([]ActivePEM, 0, len(names))
	for _, c := range certs {
		if c == nil {
			continue
		}
		if v := c.ActiveVersion(); v != nil {
			a, err := activePEM(c, v)
			if err != nil {
				return nil, fmt.Errorf("loading certificates: %w", err)
			}
			out = append(out, a)
		}
	}
	return out, nil
}

// GetShared returns the value at key and its revision (the etcd revision
// that wrote it).
func (e *Etcd) GetShared(ctx context.Context, key string) ([]byte, uint64, error) {
	if err := checkSharedKey(key); err != nil {
		return nil, 0, err
	}
	rctx, cancel := e.reqCtx(ctx)
	resp, err := e.cli.Get(rctx, e.sharedKey(key))
	cancel()
	if err != nil {
		return nil, 0, fmt.Errorf("shared %s: reading: %w", key, e.classify(ctx, err))
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, fmt.Errorf("shared %s: %w", key, ErrNotFound)
	}
	val, err := e.seal.openShared(key, resp.Kvs[0].Value)
	if err != nil {
		return nil, 0, fmt.Errorf("shared %s: reading: %w", key, err)
	}
	return val, uint64(resp.Kvs[0].ModRevision), nil
}

// PutShared writes value at key if its revision is rev (0: absent). A ttl
// above zero attaches a new lease of that many seconds (rounded up; etcd
// may raise very short ones to its minimum, about 2 s).
func (e *Etcd) PutShared(ctx context.Context, key string, value []byte, rev uint64, ttl time.Duration) (uint64, error) {
	if err := checkSharedKey(key); err != nil {
		return 0, err
	}
	if len(value) > maxSharedValue {
		return 0, fmt.Errorf("shared %s: value of %d bytes exceeds %d: %w", key, len(value), maxSharedValue, ErrInvalidRecord)
	}
	if e.readOnly {
		return 0, fmt.Errorf("%s: %w", e.loc, ErrReadOnly)
	}
	k := e.sharedKey(key)
	value = e.seal.sealShared(key, value)
	var opts []clientv3.OpOption
	var lease clientv3.LeaseID
	if ttl > 0 {
		rctx, cancel := e.reqCtx(ctx)
		g, err := e.cli.Grant(rctx, int64((ttl+time.Second-1)/time.Second))
		cancel()
		if err != nil {
			return 0, fmt.Errorf("shared %s: granting a lease: %w", key, e.classify(ctx, err))
		}
		lease = g.ID
		opts = append(opts, clientv3.WithLease(lease))
	}
	rctx, cancel := e.reqCtx(ctx)
	resp, err := e.cli.Txn(rctx).
		If(clientv3.Compare(clientv3.ModRevision(k), "=", int64(rev))).
		Then(clientv3.OpPut(k, string(value), opts...)).Commit()
	cancel()
	if err == nil && resp.Succeeded {
		return uint64(resp.Header.Revision), nil
	}
	if lease != 0 {
		rctx, cancel := e.reqCtx(context.WithoutCancel(ctx))
		_, _ = e.cli.Revoke(rctx, lease)
		cancel()
	}
	if err != nil {
		return 0, fmt.Errorf("shared %s: writing: %w", key, e.classify(ctx, err))
	}
	return 0, fmt.Errorf("shared %s: %w", key, ErrConflict)
}

// DeleteShared removes key; a missing key is no error.
func (e *Etcd) DeleteShared(ctx context.Context, key string) error {
	if err := checkSharedKey(key); err != nil {
		return err
	}
	if e.readOnly {
		return fmt.Errorf("%s: %w", e.loc, ErrReadOnly)
	}
	rctx, cancel := e.reqCtx(ctx)
	_, err := e.cli.Delete(rctx, e.sharedKey(key))
	cancel()
	if err != nil {
		return fmt.Errorf("shared %s: deleting: %w", key, e.classify(ctx, err))
	}
	return nil
}
