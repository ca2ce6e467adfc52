package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certctl/certctl"
	"github.com/certctl/certctl/bindings"
	"github.com/certctl/certctl/internal/testpki"
	"github.com/certctl/certctl/store"
)

// storeVersion names the layout of the generated stores in their cache file
// names. Change it whenever buildStore writes something different, so a
// cached store built by older code is not reused. v3: records carry the
// store's chain check mark.
const storeVersion = "v3"

// loadCerts is the number of certificates of the load benchmarks.
const loadCerts = 10_000

// leafLifetime is how long the generated leaves are valid (as an ACME CA
// issues them, and well within the year of testpki's root); a cached store is
// rebuilt when they expire within minLeft.
const (
	leafLifetime = 90 * 24 * time.Hour
	minLeft      = 7 * 24 * time.Hour
)

// certName is the name, and only domain, of certificate i.
func certName(i int) string { return fmt.Sprintf("host-%d.example", i) }

// countingSource is a bindings.Source that counts the calls made to it. With
// oneByOne set, each of its Load calls reads src one certificate at a time, as
// a source that cannot read in batches would.
type countingSource struct {
	src                   bindings.Source
	oneByOne              bool
	gens, revs, loadCalls atomic.Int64
}

func (c *countingSource) Generation(ctx context.Context) (uint64, error) {
	c.gens.Add(1)
	return c.src.Generation(ctx)
}

func (c *countingSource) Revisions(ctx context.Context) (map[string]uint64, error) {
	c.revs.Add(1)
	return c.src.Revisions(ctx)
}

func (c *countingSource) Load(ctx context.Context, names []string) ([]bindings.Loaded, error) {
	c.loadCalls.Add(1)
	if !c.oneByOne {
		return c.src.Load(ctx, names)
	}
	out := make([]bindings.Loaded, 0, len(names))
	for _, name := range names {
		l, err := c.src.Load(ctx, []string{name})
		if err != nil {
			return nil, err
		}
		out = append(out, l...)
	}
	return out, nil
}

func (c *countingSource) reset() { c.gens.Store(0); c.revs.Store(0); c.loadCalls.Store(0) }

// cachedStore returns the path of the 10k store (cachedStoreN).
func cachedStore(b *testing.B) string { return cachedStoreN(b, loadCerts) }

// cachedStoreN returns the path of a store of n certificates (buildStore),
// from the cache in os.TempDir()/certctl-bench when it is there and still
// usable, otherwise built now (about 10 s per 10,000 certificates) and
// cached. Benchmarks that write must work on a copy (copyStore).
func cachedStoreN(b *testing.B, n int) string {
	b.Helper()
	cacheMu.Lock()
	defer cacheMu.Unlock()
	dir := filepath.Join(os.TempDir(), "certctl-bench")
	path := filepath.Join(dir, fmt.Sprintf("store%d-%s-schema%d.db", n, storeVersion, store.SchemaVersion))
	if cacheChecked[path] {
		return path
	}
	if err := usableStore(b.Context(), path, n); err == nil {
		cacheChecked[path] = true
		return path
	} else if !errors.Is(err, fs.ErrNotExist) {
		b.Logf("cached store %s unusable, rebuilding: %v", path, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	// Build in a private directory, then rename into place: an interrupted
	// build or another process building at the same time never leaves a
	// partial store under the cached name.
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	built := filepath.Join(tmp, "certctl.db")
	buildStore(b, built, n)
	if err := os.Rename(built, path); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %s with %d certificates in %v", path, n, time.Since(start).Round(time.Millisecond))
	cacheChecked[path] = true
	return path
}

var (
	cacheMu      sync.Mutex
	cacheChecked = map[string]bool{} // paths of the cached stores checked by this process
)

// usableStore checks that path holds n certificates whose leaves stay valid
// for at least minLeft (sampled: every leaf of a store is made at once).
func usableStore(ctx context.Context, path string, n int) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	db, err := store.Open(path, &store.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	revs, err := db.Revisions(ctx)
	if err != nil {
		return err
	}
	if len(revs) != n {
		return fmt.Errorf("%d certificates, want %d", len(revs), n)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		c, err := db.Get(ctx, certName(i))
		if err != nil {
			return err
		}
		v := c.ActiveVersion()
		if v == nil || time.Until(v.NotAfter) < minLeft {
			return fmt.Errorf("%s: no active version or it expires soon", c.Name)
		}
	}
	return nil
}

// copyStore copies the store at src into a temporary directory of b and
// opens the copy for writing.
func copyStore(b *testing.B, src string) *store.DB {
	b.Helper()
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	dst := filepath.Join(b.TempDir(), "certctl.db")
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	db, err := store.Open(dst, nil)
	if err != nil {
		b.Fatal(err)
	}
	return db
}

// buildBatch is how many records buildStore writes per transaction.
const buildBatch = 1000

// buildStore creates a store at path holding n certificates named
// certName(i), each with its own P-256 key and a leaf signed by one shared
// intermediate (stored as the chain), due for renewal when a third of their
// lifetime is left. It writes buildBatch records per transaction (PutAll),
// so its memory stays that of one batch whatever n.
func buildStore(tb testing.TB, path string, n int) {
	tb.Helper()
	db, err := store.Open(path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	inter := testpki.NewRoot(tb, "Bench Root").SubCA(tb, "Bench Intermediate", now.Add(-time.Hour), now.Add(2*leafLifetime))
	chainPEM := inter.PEM()
	batch := make([]*store.Certificate, 0, buildBatch)
	for i := range n {
		l := inter.Issue(tb, testpki.LeafSpec{Names: []string{certName(i)}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(leafLifetime)})
		c := &store.Certificate{
			Name:      certName(i),
			Domains:   []string{certName(i)},
			KeyType:   "ec256",
			Challenge: store.Challenge{Type: "http-01", HTTPAddr: "127.0.0.1:5002"},
			Directory: "https://127.0.0.1:14000/dir",
			Renewal:   store.RenewalState{Next: l.Cert.NotAfter.Add(-leafLifetime / 3), Reason: "bench"},
		}
		c.AddVersion(store.Version{
			Seq:       1,
			Serial:    l.Serial(),
			CertPEM:   l.CertPEM(),
			ChainPEM:  chainPEM,
			KeyPEM:    l.KeyPEM(tb),
			NotBefore: l.Cert.NotBefore,
			NotAfter:  l.Cert.NotAfter,
			Issued:    now,
		})
		batch = append(batch, c)
		if len(batch) == buildBatch || i == n-1 {
			if err := db.PutAll(tb.Context(), batch); err != nil {
				tb.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// loadAll syncs a new binder from src and checks that it serves all n
// certificates.
func loadAll(b *testing.B, src bindings.Source, n int) *bindings.Binder {
	b.Helper()
	bd := bindings.New(nil)
	if err := bd.Sync(b.Context(), src); err != nil {
		b.Fatal(err)
	}
	if got := len(bd.Names()); got != n {
		b.Fatalf("binder holds %d certificates, want %d", got, n)
	}
	return bd
}

// BenchmarkBinderLoad10k measures a binder's first Sync from a bbolt store of
// 10,000 certificates: every record read and parsed, each key checked against
// its leaf, validity dates and names checked, and one snapshot published.
// The chain signatures are not checked again: the store checked them when it
// wrote each record (store.ActivePEM.ChainVerified). Validation runs on
// GOMAXPROCS goroutines while the next batch of records is read.
func BenchmarkBinderLoad10k(b *testing.B) { benchLoad10k(b, loadPlain) }

// BenchmarkBinderLoad10kFullCheck is BenchmarkBinderLoad10k checking every
// chain signature too, as for a store without chain check marks (written by
// an older certctl) or a binder with Options.Roots.
func BenchmarkBinderLoad10kFullCheck(b *testing.B) { benchLoad10k(b, loadFullCheck) }

// BenchmarkBinderLoad10kFullCheckOneCPU is BenchmarkBinderLoad10kFullCheck
// with GOMAXPROCS 1: the load without the parallelism and without trusting
// the store's chain marks, the in-tree baseline of the two above (the
// cheaper parsing they share makes it faster than the load before them).
func BenchmarkBinderLoad10kFullCheckOneCPU(b *testing.B) { benchLoad10k(b, loadFullCheckOneCPU) }

// BenchmarkBinderLoad10kOneByOne is BenchmarkBinderLoad10k reading one
// certificate per store transaction: the baseline of the batch read.
func BenchmarkBinderLoad10kOneByOne(b *testing.B) { benchLoad10k(b, loadOneByOne) }

// loadMode is a variant of the 10k load benchmark.
type loadMode int

const (
	loadPlain           loadMode = iota
	loadFullCheck                // the source does not vouch for chains
	loadFullCheckOneCPU          // loadFullCheck with GOMAXPROCS 1
	loadOneByOne                 // one record per store transaction
)

// unvouched is a bindings.Source that drops its source's
// Loaded.ChainVerified, so the binder checks every chain signature.
type unvouched struct{ bindings.Source }

func (u unvouched) Load(ctx context.Context, names []string) ([]bindings.Loaded, error) {
	out, err := u.Source.Load(ctx, names)
	for i := range out {
		out[i].ChainVerified = false
	}
	return out, err
}

// benchLoad10k syncs new binders from the 10k store in the given mode.
func benchLoad10k(b *testing.B, mode loadMode) {
	db, err := store.Open(cachedStore(b), &store.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	src := certctl.BinderSource(db)
	switch mode {
	case loadOneByOne:
		src = &countingSource{src: src, oneByOne: true}
	case loadFullCheckOneCPU:
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		fallthrough
	case loadFullCheck:
		src = unvouched{src}
	}
	ctx := b.Context()
	last := certName(loadCerts - 1)
	var bd *bindings.Binder
	b.ReportAllocs()
	cpu0, cpuOK := cpuTime()
	for b.Loop() {
		bd = bindings.New(nil)
		if err := bd.Sync(ctx, src); err != nil {
			b.Fatal(err)
		}
		if bd.Serial(last) == "" {
			b.Fatalf("%s not served after Sync", last)
		}
	}
	if cpu1, ok := cpuTime(); ok && cpuOK {
		b.ReportMetric((cpu1-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	}
	b.ReportMetric(float64(loadCerts)*float64(b.N)/b.Elapsed().Seconds(), "certs/s")
	if got := len(bd.Names()); got != loadCerts {
		b.Fatalf("binder holds %d certificates, want %d", got, loadCerts)
	}
}

// BenchmarkBinderResync10kNoChange measures the Sync of a binder holding the
// 10,000 certificates of a store that did not change: one Generation read.
func BenchmarkBinderResync10kNoChange(b *testing.B) {
	db, err := store.Open(cachedStore(b), &store.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	src := &countingSource{src: certctl.BinderSource(db)}
	bd := loadAll(b, src, loadCerts)
	ctx := b.Context()
	src.reset()
	b.ReportAllocs()
	for b.Loop() {
		if err := bd.Sync(ctx, src); err != nil {
			b.Fatal(err)
		}
	}
	if g, r, l := src.gens.Load(), src.revs.Load(), src.loadCalls.Load(); g != int64(b.N) || r != 0 || l != 0 {
		b.Fatalf("%d Syncs made %d Generation, %d Revisions and %d Load calls; want %d, 0, 0", b.N, g, r, l, b.N)
	}
}

// BenchmarkBinderResyncOneChanged measures the Sync of a binder holding
// 10,000 certificates after one record of the store was rewritten (a new
// revision, as a renewal or a settings change gives it): Generation,
// Revisions, one Load of one certificate and validation, and a snapshot copy-on-write. The
// rewrite happens between iterations, outside the timer.
func BenchmarkBinderResyncOneChanged(b *testing.B) {
	db := copyStore(b, cachedStore(b))
	src := &countingSource{src: certctl.BinderSource(db)}
	bd := loadAll(b, src, loadCerts)
	ctx := b.Context()
	src.reset()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		name := certName(i * 7919 % loadCerts) // spread over the snapshot's shards
		i++
		c, err := db.Get(ctx, name)
		if err != nil {
			b.Fatal(err)
		}
		if err := db.Put(ctx, c); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := bd.Sync(ctx, src); err != nil {
			b.Fatal(err)
		}
	}
	if r, l := src.revs.Load(), src.loadCalls.Load(); r != int64(b.N) || l != int64(b.N) {
		b.Fatalf("%d Syncs made %d Revisions and %d Load calls; want one each per Sync", b.N, r, l)
	}
}

// TestBuildStore_SmallStoreLoads checks the store builder of the benchmarks on
// a small store: every certificate is valid and served after one Sync.
func TestBuildStore_SmallStoreLoads(t *testing.T) {
	const n = 12
	path := filepath.Join(t.TempDir(), "certctl.db")
	buildStore(t, path, n)
	if err := usableStore(t.Context(), path, n); err != nil {
		t.Fatalf("usableStore of a fresh store: %v", err)
	}
	if err := usableStore(t.Context(), path, n+1); err == nil {
		t.Error("usableStore accepted a store with fewer certificates than asked")
	}
	db, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, n)
	for i := range names {
		names[i] = certName(i)
	}
	active, err := db.LoadActive(t.Context(), names)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range active {
		if !a.ChainVerified {
			t.Errorf("%s: not marked chain-verified by the store; BenchmarkBinderLoad10k would check its chain", a.Name)
		}
	}
	bd := bindings.New(nil)
	if err := bd.Sync(t.Context(), certctl.BinderSource(db)); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		c, err := db.Get(t.Context(), certName(i))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := bd.Serial(certName(i)), c.ActiveVersion().Serial; got != want || got == "" {
			t.Errorf("Serial(%s) = %q, want %q", certName(i), got, want)
		}
	}
}
