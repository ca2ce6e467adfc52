package bench

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/certctl/certctl"
	"github.com/certctl/certctl/bindings"
	"github.com/certctl/certctl/internal/etcdtest"
	"github.com/certctl/certctl/store"
)

// dueEvery makes every dueEvery-th certificate of the 10k stores of the due
// benchmarks due now (1%).
const dueEvery = 100

// fillWorkers is the number of concurrent Puts that fill the etcd store.
// Every write of the etcd backend is compare-and-swap on one generation
// key, so more writers mostly retry; a few hide the round trips.
const fillWorkers = 4

// TestMain runs a helper process when the benchmarks re-execute the test
// binary as one (propagation_test.go), and stops the benchmarks' etcd
// member and removes their scratch directory at the end.
func TestMain(m *testing.M) {
	if mode := os.Getenv(envChild); mode != "" {
		os.Exit(runChild(mode))
	}
	code := m.Run()
	shared.cleanup()
	os.Exit(code)
}

// shared holds what the etcd benchmarks of one test process build once:
// an embedded etcd member, the 10k certificates in it, and a bbolt copy of
// the 10k store with the same 1% made due.
var shared sharedState

// sharedState is the type of shared.
type sharedState struct {
	mu      sync.Mutex
	dir     string // scratch directory, removed at exit
	srv     *etcdtest.Server
	etcd10k *store.Etcd
	bolt10k string // path of the bbolt store with 1% due
}

// cleanup closes and removes what the benchmarks of this process built.
func (s *sharedState) cleanup() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.etcd10k != nil {
		_ = s.etcd10k.Close()
	}
	if s.srv != nil {
		s.srv.Stop()
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// scratch returns the scratch directory of this process; shared.mu is held.
func scratch(tb testing.TB) string {
	tb.Helper()
	if shared.dir == "" {
		d, err := os.MkdirTemp("", "certctl-bench-etcd-")
		if err != nil {
			tb.Fatal(err)
		}
		shared.dir = d
	}
	return shared.dir
}

// benchServer returns the etcd member of this process, started on first
// use; shared.mu is held.
func benchServer(tb testing.TB) *etcdtest.Server {
	tb.Helper()
	if shared.srv == nil {
		srv, err := etcdtest.Start(filepath.Join(scratch(tb), "etcd"))
		if err != nil {
			tb.Fatal(err)
		}
		shared.srv = srv
	}
	return shared.srv
}

// isDue reports whether certificate i is one of the 1% made due.
func isDue(i int) bool { return i%dueEvery == 0 }

// dueAt is the Renewal.Next given to the due certificates.
var dueAt = time.Now().Add(-time.Hour).Truncate(time.Second)

// records returns the 10,000 records of the cached bbolt store, by index,
// with the 1% due ones rescheduled to dueAt.
func records(b *testing.B) []*store.Certificate {
	b.Helper()
	db, err := store.Open(cachedStore(b), &store.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	all, err := db.List(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	byName := make(map[string]*store.Certificate, len(all))
	for _, c := range all {
		byName[c.Name] = c
	}
	out := make([]*store.Certificate, loadCerts)
	for i := range out {
		c := byName[certName(i)]
		if c == nil {
			b.Fatalf("cached store has no %s", certName(i))
		}
		if isDue(i) {
			c.Renewal.Next = dueAt
		}
		out[i] = c
	}
	return out
}

// etcd10k returns the etcd store holding the 10,000 certificates of the
// cached bbolt store (1% due), filled on first use with fillWorkers
// concurrent Puts. The fill's duration is logged, not counted in any
// benchmark.
func etcd10k(b *testing.B) *store.Etcd {
	b.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.etcd10k != nil {
		return shared.etcd10k
	}
	srv := benchServer(b)
	recs := records(b)
	ctx := context.Background()
	db, err := store.OpenEtcd(ctx, srv.StoreURL("bench10k"), nil)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	work := make(chan *store.Certificate)
	errs := make(chan error, fillWorkers)
	var wg sync.WaitGroup
	for range fillWorkers {
		wg.Go(func() {
			for c := range work {
				c.Revision = 0
				if err := db.Put(ctx, c); err != nil {
					errs <- err
					for range work {
					}
					return
				}
			}
		})
	}
	for _, c := range recs {
		work <- c
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		_ = db.Close()
		b.Fatalf("filling etcd: %v", err)
	}
	d := time.Since(start)
	// run.sh prints this line in its summary.
	b.Logf("etcd setup: %d certificates put with %d writers in %.1f s (%.0f certs/s)",
		loadCerts, fillWorkers, d.Seconds(), float64(loadCerts)/d.Seconds())
	shared.etcd10k = db
	return db
}

// bolt10kDue returns a bbolt store holding the same records as etcd10k:
// a copy of the cached store with the same 1% made due.
func bolt10kDue(b *testing.B) *store.DB {
	b.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.bolt10k == "" {
		path := filepath.Join(scratch(b), "due.db")
		buildCopy(b, cachedStore(b), path)
		db, err := store.Open(path, nil)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < loadCerts; i += dueEvery {
			if _, err := store.Update(b.Context(), db, certName(i), func(c *store.Certificate) error {
				c.Renewal.Next = dueAt
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		shared.bolt10k = path
	}
	db, err := store.Open(shared.bolt10k, &store.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	return db
}

// buildCopy copies the store file src to dst.
func buildCopy(b *testing.B, src, dst string) {
	b.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkBinderLoad10kEtcd is BenchmarkBinderLoad10k from an etcd store
// (the embedded member, on loopback) holding the same 10,000 certificates:
// Generation, Revisions (one range over the revision keys) and the records
// in transactions of 64.
func BenchmarkBinderLoad10kEtcd(b *testing.B) {
	src := certctl.BinderSource(etcd10k(b))
	ctx := b.Context()
	last := certName(loadCerts - 1)
	var n int
	b.ReportAllocs()
	for b.Loop() {
		bd := bindings.New(nil)
		if err := bd.Sync(ctx, src); err != nil {
			b.Fatal(err)
		}
		if bd.Serial(last) == "" {
			b.Fatalf("%s not served after Sync", last)
		}
		n = len(bd.Names())
	}
	b.ReportMetric(float64(loadCerts)*float64(b.N)/b.Elapsed().Seconds(), "certs/s")
	if n != loadCerts {
		b.Fatalf("binder holds %d certificates, want %d", n, loadCerts)
	}
}

// BenchmarkDue10k measures store.Due at 10,000 certificates of which 1%
// (100) are due, on bbolt (the baseline) and etcd.
func BenchmarkDue10k(b *testing.B) {
	for _, bk := range []struct {
		name string
		open func(*testing.B) store.Store
	}{
		{"bbolt", func(b *testing.B) store.Store { return bolt10kDue(b) }},
		{"etcd", func(b *testing.B) store.Store { return etcd10k(b) }},
	} {
		b.Run(bk.name, func(b *testing.B) {
			s := bk.open(b)
			ctx := b.Context()
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				due, err := s.Due(ctx, now)
				if err != nil {
					b.Fatal(err)
				}
				if len(due) != loadCerts/dueEvery {
					b.Fatalf("Due returned %d certificates, want %d", len(due), loadCerts/dueEvery)
				}
			}
		})
	}
}

// BenchmarkNextDue10k measures store.NextDue at 10,000 certificates, on
// bbolt (the baseline) and etcd.
func BenchmarkNextDue10k(b *testing.B) {
	for _, bk := range []struct {
		name string
		open func(*testing.B) store.Store
	}{
		{"bbolt", func(b *testing.B) store.Store { return bolt10kDue(b) }},
		{"etcd", func(b *testing.B) store.Store { return etcd10k(b) }},
	} {
		b.Run(bk.name, func(b *testing.B) {
			s := bk.open(b)
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				next, ok, err := s.NextDue(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if !ok || !next.Equal(dueAt) {
					b.Fatalf("NextDue = %v, %v; want %v", next, ok, dueAt)
				}
			}
		})
	}
}
