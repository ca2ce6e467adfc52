package bindings

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"hash/maphash"
	"maps"
)

// maxServerName bounds the server names looked up (DNS names are at most 253
// octets; longer ones miss) and so the stack buffer used to lower-case them.
const maxServerName = 256

// inlineName is the longest name kept inline in a map key. Nearly all server
// names fit: comparing an inline key touches only the map slot, where a string
// key would also chase a pointer to its bytes (one more cache miss per lookup
// in a large snapshot). Longer names go to a map keyed by string.
const inlineName = 47

// shardCount is the number of shards of each name index. A change copies only
// the shards it touches, so replacing one certificate among n costs O(n/256)
// instead of O(n).
const shardCount = 256

// nameKey is a name of at most inlineName bytes, zero-padded, with its length
// in the last byte (so names that differ only by trailing NULs differ).
type nameKey [inlineName + 1]byte

func keyOf(name string) (k nameKey) {
	copy(k[:], name)
	k[inlineName] = byte(len(name))
	return k
}

// shard picks the shard of a short name: a multiply-xor mix of its six words,
// top byte.
func (k *nameKey) shard() int {
	h := binary.LittleEndian.Uint64(k[0:])*0x9e3779b97f4a7c15 ^
		binary.LittleEndian.Uint64(k[8:])*0xc2b2ae3d27d4eb4f ^
		binary.LittleEndian.Uint64(k[16:])*0x165667b19e3779f9 ^
		binary.LittleEndian.Uint64(k[24:])*0xd6e8feb86659fd93 ^
		binary.LittleEndian.Uint64(k[32:])*0xff51afd7ed558ccd ^
		binary.LittleEndian.Uint64(k[40:])*0xc4ceb9fe1a85ec53
	return int(h >> 56)
}

// longSeed hashes names longer than inlineName to their shard.
var longSeed = maphash.MakeSeed()

// shard is one part of a name index. Its maps are immutable once published;
// a writer clones the shard before changing it.
type shard struct {
	short map[nameKey]*tls.Certificate
	long  map[string]*tls.Certificate
}

// nameIndex maps normalized names to certificates, in shards held by value so
// a lookup follows no extra pointer.
type nameIndex [shardCount]shard

const (
	exactIndex = 0 // host names: "www.example.com"
	wildIndex  = 1 // wildcard suffixes: "example.com" for "*.example.com"
)

// snapshot is an immutable view of which certificate serves which name.
// Readers load it through Binder.cur and never lock; writers build the next
// one in a txn and swap it in.
type snapshot struct {
	idx [2]nameIndex
	def *tls.Certificate // served to clients without SNI; nil when none
}

// lookup returns the certificate serving serverName, nil when none. It never
// allocates: the name is lower-cased while being copied into a key on the
// stack; exact names are tried first, then a wildcard for the leftmost label.
func (s *snapshot) lookup(serverName string) *tls.Certificate {
	if serverName == "" {
		return s.def
	}
	if serverName[len(serverName)-1] == '.' {
		serverName = serverName[:len(serverName)-1]
	}
	n := len(serverName)
	if n > inlineName {
		return s.lookupLong(serverName)
	}
	var k nameKey
	copy(k[:], serverName)
	lowerASCII(k[:n])
	k[inlineName] = byte(n)
	if c := s.idx[exactIndex][k.shard()].short[k]; c != nil {
		return c
	}
	// A wildcard covers exactly one non-empty leftmost label.
	i := bytes.IndexByte(k[:n], '.')
	if i <= 0 {
		return nil
	}
	var w nameKey
	copy(w[:], k[i+1:n])
	w[inlineName] = byte(n - i - 1)
	return s.idx[wildIndex][w.shard()].short[w]
}

// lookupLong is lookup for names longer than inlineName.
func (s *snapshot) lookupLong(serverName string) *tls.Certificate {
	if len(serverName) > maxServerName {
		return nil
	}
	var buf [maxServerName]byte
	name := buf[:copy(buf[:], serverName)]
	lowerASCII(name)
	sh := int(maphash.Bytes(longSeed, name) >> 56)
	if c := s.idx[exactIndex][sh].long[string(name)]; c != nil {
		return c
	}
	i := bytes.IndexByte(name, '.')
	if i <= 0 {
		return nil
	}
	suffix := name[i+1:]
	if len(suffix) <= inlineName {
		var w nameKey
		copy(w[:], suffix)
		w[inlineName] = byte(len(suffix))
		return s.idx[wildIndex][w.shard()].short[w]
	}
	return s.idx[wildIndex][maphash.Bytes(longSeed, suffix)>>56].long[string(suffix)]
}

func lowerASCII(b []byte) {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
}

// indexKey returns the index a normalized served name lives in and its key
// there.
func indexKey(name string) (int, string) {
	if len(name) > 2 && name[0] == '*' && name[1] == '.' {
		return wildIndex, name[2:]
	}
	return exactIndex, name
}

// entry is one installed certificate. It is immutable once installed.
type entry struct {
	name  string           // binding name
	cert  *tls.Certificate // Certificate (DER chain), PrivateKey and parsed Leaf; unique to this entry
	names []string         // normalized served names: "host.example" or "*.example"
	added uint64           // order of first installation under this binding name (default choice)
	seq   uint64           // order of this installation (newest wins a shared name)
}

// writerState is what only writers see, under Binder.mu: every binding, the
// default rule, counters and the shared intermediate certificates.
type writerState struct {
	byName  map[string]*entry
	def     *entry // current default binding
	defName string // binding requested by SetDefault ("" = first added)
	seq     uint64
	chains  map[string]*sharedDER // interned chain certificates by DER
}

// sharedDER is one chain certificate shared by every binding that sends it.
type sharedDER struct {
	der  []byte
	refs int
}

// txn applies changes to the writer state and builds the next snapshot,
// copying only the shards it changes. Only one txn runs at a time (Binder.mu).
type txn struct {
	w       *writerState
	cur     *snapshot
	s       *snapshot                  // nil until the first index change
	owned   [2][shardCount / 64]uint64 // shards of s already copied
	orphans map[string]struct{}        // served names whose owner was replaced or removed
	rescan  bool                       // the default must be chosen again
	changed bool
}

func newTxn(w *writerState, cur *snapshot) *txn {
	return &txn{w: w, cur: cur}
}

// shardFor returns the shard of name in index i, writable if write is set.
func (t *txn) shardFor(i int, name string, write bool) *shard {
	var sh int
	if len(name) <= inlineName {
		k := keyOf(name)
		sh = k.shard()
	} else {
		sh = int(maphash.String(longSeed, name) >> 56)
	}
	if !write {
		if t.s != nil {
			return &t.s.idx[i][sh]
		}
		return &t.cur.idx[i][sh]
	}
	if t.s == nil {
		next := *t.cur // copies the shard headers, not the maps
		t.s = &next
	}
	p := &t.s.idx[i][sh]
	if t.owned[i][sh/64]&(1<<(sh%64)) == 0 {
		t.owned[i][sh/64] |= 1 << (sh % 64)
		p.short = maps.Clone(p.short)
		p.long = maps.Clone(p.long)
		if p.short == nil {
			p.short = make(map[nameKey]*tls.Certificate)
		}
		if p.long == nil {
			p.long = make(map[string]*tls.Certificate)
		}
	}
	return p
}

func (t *txn) get(name string) *tls.Certificate {
	i, key := indexKey(name)
	sh := t.shardFor(i, key, false)
	if len(key) <= inlineName {
		return sh.short[keyOf(key)]
	}
	return sh.long[key]
}

func (t *txn) set(name string, c *tls.Certificate) {
	i, key := indexKey(name)
	sh := t.shardFor(i, key, true)
	if len(key) <= inlineName {
		sh.short[keyOf(key)] = c
	} else {
		sh.long[key] = c
	}
}

func (t *txn) del(name string) {
	i, key := indexKey(name)
	sh := t.shardFor(i, key, true)
	if len(key) <= inlineName {
		delete(sh.short, keyOf(key))
	} else {
		delete(sh.long, key)
	}
}

// put installs e under e.name, replacing any previous entry of that name. e
// takes every name it lists, also from other bindings (newest wins).
func (t *txn) put(e *entry) {
	w := t.w
	w.seq++
	e.seq = w.seq
	e.added = e.seq
	t.intern(e)
	if old := w.byName[e.name]; old != nil {
		e.added = old.added
		t.unbind(old)
	}
	w.byName[e.name] = e
	for _, n := range e.names {
		t.set(n, e.cert)
	}
	t.changed = true
}

// remove drops the binding called name, if any.
func (t *txn) remove(name string) {
	old := t.w.byName[name]
	if old == nil {
		return
	}
	delete(t.w.byName, name)
	t.unbind(old)
	t.changed = true
}

// setDefault records the binding to serve to clients without SNI.
func (t *txn) setDefault(name string) {
	if t.w.defName == name {
		return
	}
	t.w.defName = name
	t.rescan = true
	t.changed = true
}

func (t *txn) unbind(old *entry) {
	t.release(old)
	for _, n := range old.names {
		if t.get(n) == old.cert {
			t.del(n)
			if t.orphans == nil {
				t.orphans = make(map[string]struct{})
			}
			t.orphans[n] = struct{}{}
		}
	}
}

// intern makes e's chain certificates (all but the leaf) share memory with
// identical ones already held: 10,000 leaves from one CA keep one copy of its
// intermediate.
func (t *txn) intern(e *entry) {
	chain := e.cert.Certificate
	if len(chain) < 2 {
		return
	}
	if t.w.chains == nil {
		t.w.chains = make(map[string]*sharedDER)
	}
	shared := make([][]byte, len(chain))
	shared[0] = chain[0]
	for i, der := range chain[1:] {
		d := t.w.chains[string(der)]
		if d == nil {
			d = &sharedDER{der: der}
			t.w.chains[string(der)] = d
		}
		d.refs++
		shared[i+1] = d.der
	}
	e.cert.Certificate = shared
}

// release drops old's references to shared chain certificates.
func (t *txn) release(old *entry) {
	for _, der := range old.cert.Certificate[min(1, len(old.cert.Certificate)):] {
		if d := t.w.chains[string(der)]; d != nil {
			if d.refs--; d.refs == 0 {
				delete(t.w.chains, string(der))
			}
		}
	}
}

// finish gives orphaned names to the newest remaining binding that lists them
// (a scan of every binding, only when a name lost its owner), settles the
// default certificate and returns the snapshot to publish, or nil when nothing
// changed.
func (t *txn) finish() *snapshot {
	if !t.changed {
		return nil
	}
	w := t.w
	for n := range t.orphans {
		if t.get(n) != nil {
			delete(t.orphans, n)
		}
	}
	if len(t.orphans) > 0 {
		heir := make(map[string]*entry, len(t.orphans))
		for _, e := range w.byName {
			for _, n := range e.names {
				if _, ok := t.orphans[n]; ok && (heir[n] == nil || heir[n].seq < e.seq) {
					heir[n] = e
				}
			}
		}
		for n, e := range heir {
			t.set(n, e.cert)
		}
	}
	switch {
	case w.defName != "" && w.byName[w.defName] != nil:
		w.def = w.byName[w.defName]
	case !t.rescan && w.def != nil && w.byName[w.def.name] != nil:
		// Still the first added binding (later ones are added after it);
		// it may have been replaced by a newer certificate.
		w.def = w.byName[w.def.name]
	default:
		w.def = nil
		for _, e := range w.byName {
			if w.def == nil || e.added < w.def.added {
				w.def = e
			}
		}
	}
	if t.s == nil {
		next := *t.cur
		t.s = &next
	}
	t.s.def = nil
	if w.def != nil {
		t.s.def = w.def.cert
	}
	return t.s
}
