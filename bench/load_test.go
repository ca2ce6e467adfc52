package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certctl/certctl"
	"github.com/certctl/certctl/bindings"
	"github.com/certctl/certctl/store"
)

// storeVersion names the layout of the generated 10k store in its cache file
// name. Change it whenever buildStore writes something different, so a cached
// store built by older code is not reused.
const storeVersion = "v1"

// loadCerts is the number of certificates of the load benchmarks.
const loadCerts = 10_000

// leafLifetime is how long the generated leaves are valid; a cached store is
// rebuilt when they expire within minLeft.
const (
	leafLifetime = 365 * 24 * time.Hour
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

// cachedStore returns the path of the 10k store, from the cache in
// os.TempDir() when it is there and still usable, otherwise built now
// (a few seconds to a minute) and cached. Benchmarks that write must work on a
// copy (copyStore).
func cachedStore(b *testing.B) string {
	b.Helper()
	cacheMu.Lock()
	defer cacheMu.Unlock()
	dir := filepath.Join(os.TempDir(), "certctl-bench")
	path := filepath.Join(dir, fmt.Sprintf("store%d-%s-schema%d.db", loadCerts, storeVersion, store.SchemaVersion))
	if cacheChecked == path {
		return path
	}
	if err := usableStore(b.Context(), path, loadCerts); err == nil {
		cacheChecked = path
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
	if err := buildStore(b.Context(), built, loadCerts); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(built, path); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %s with %d certificates in %v", path, loadCerts, time.Since(start).Round(time.Millisecond))
	cacheChecked = path
	return path
}

var (
	cacheMu      sync.Mutex
	cacheChecked string // path of the cached store once checked by this process
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

// buildStore creates a store at path holding n certificates named
// certName(i), each with its own P-256 key and a leaf signed by one shared
// intermediate (stored as the chain). Keys are made on every CPU while one
// goroutine writes the records.
func buildStore(ctx context.Context, path string, n int) error {
	db, err := store.Open(path, nil)
	if err != nil {
		return err
	}
	now := time.Now()
	rootKey, root, err := makeCert(nil, nil, pkix.Name{CommonName: "Bench Root"}, nil, now.Add(-time.Hour), now.Add(2*leafLifetime))
	if err != nil {
		return err
	}
	interKey, inter, err := makeCert(root, rootKey, pkix.Name{CommonName: "Bench Intermediate"}, nil, now.Add(-time.Hour), now.Add(2*leafLifetime))
	if err != nil {
		return err
	}
	chainPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.Raw})

	type made struct {
		i   int
		v   store.Version
		err error
	}
	jobs := make(chan int)
	results := make(chan made)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range jobs {
				v, err := makeVersion(inter, interKey, certName(i), chainPEM, now)
				select {
				case results <- made{i, v, err}:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	go func() {
		defer close(jobs)
		for i := range n {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	for m := range results {
		if m.err != nil {
			return m.err
		}
		c := &store.Certificate{
			Name:      certName(m.i),
			Domains:   []string{certName(m.i)},
			KeyType:   "ec256",
			Challenge: store.Challenge{Type: "http-01", HTTPAddr: "127.0.0.1:5002"},
			Directory: "https://127.0.0.1:14000/dir",
			Renewal:   store.RenewalState{Next: m.v.NotAfter.Add(-leafLifetime / 3), Reason: "bench"},
		}
		c.AddVersion(m.v)
		if err := db.Put(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// makeVersion issues a leaf for name from the intermediate.
func makeVersion(inter *x509.Certificate, interKey *ecdsa.PrivateKey, name string, chainPEM []byte, now time.Time) (store.Version, error) {
	key, leaf, err := makeCert(inter, interKey, pkix.Name{CommonName: name}, []string{name}, now.Add(-time.Hour), now.Add(leafLifetime))
	if err != nil {
		return store.Version{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return store.Version{}, err
	}
	return store.Version{
		Seq:       1,
		Serial:    hex.EncodeToString(leaf.SerialNumber.Bytes()),
		CertPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}),
		ChainPEM:  chainPEM,
		KeyPEM:    pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		NotBefore: leaf.NotBefore,
		NotAfter:  leaf.NotAfter,
		Issued:    now,
	}, nil
}

// makeCert makes a P-256 key and a certificate for it: a self-signed CA when
// parent is nil, a CA signed by parent when names is nil, else a server leaf
// for names signed by parent.
func makeCert(parent *x509.Certificate, parentKey *ecdsa.PrivateKey, subject pkix.Name, names []string,
	notBefore, notAfter time.Time) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)),
		Subject:      subject,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
	}
	if names == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.DNSNames = names
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return key, c, nil
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
// 10,000 certificates: every record read, parsed and validated (key pair,
// validity, chain signature), and one snapshot published.
func BenchmarkBinderLoad10k(b *testing.B) { benchLoad10k(b, false) }

// BenchmarkBinderLoad10kOneByOne is BenchmarkBinderLoad10k reading one
// certificate per store transaction: the baseline of the batch read.
func BenchmarkBinderLoad10kOneByOne(b *testing.B) { benchLoad10k(b, true) }

// benchLoad10k syncs new binders from the 10k store, through a source that
// reads one certificate at a time when oneByOne is set.
func benchLoad10k(b *testing.B, oneByOne bool) {
	db, err := store.Open(cachedStore(b), &store.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	src := certctl.BinderSource(db)
	if oneByOne {
		src = &countingSource{src: src, oneByOne: true}
	}
	ctx := b.Context()
	last := certName(loadCerts - 1)
	var bd *bindings.Binder
	b.ReportAllocs()
	for b.Loop() {
		bd = bindings.New(nil)
		if err := bd.Sync(ctx, src); err != nil {
			b.Fatal(err)
		}
		if bd.Serial(last) == "" {
			b.Fatalf("%s not served after Sync", last)
		}
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
	if err := buildStore(t.Context(), path, n); err != nil {
		t.Fatal(err)
	}
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
