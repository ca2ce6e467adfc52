package bindings

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/certctl/certctl/internal/testpki"
)

// fakeSource is an in-memory Source that counts calls.
type fakeSource struct {
	mu        sync.Mutex
	gen       uint64
	certs     map[string]fakeCert
	loadErr   map[string]error    // a Load asking for one of these names fails
	hidden    map[string]struct{} // Load leaves these names out (gone between reads)
	names     map[string][]string // Loaded.Names by certificate; nil: the leaf's
	genCalls  int
	revCalls  int
	loads     map[string]int // per name, how many Load calls asked for it
	batchLens []int          // per Load call, how many names it asked for
}

type fakeCert struct {
	certPEM, keyPEM []byte
	rev             uint64
}

func newFakeSource() *fakeSource {
	return &fakeSource{certs: map[string]fakeCert{}, loadErr: map[string]error{}, hidden: map[string]struct{}{},
		names: map[string][]string{}, loads: map[string]int{}}
}

func (f *fakeSource) put(name string, certPEM, keyPEM []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen++
	f.certs[name] = fakeCert{certPEM: certPEM, keyPEM: keyPEM, rev: f.gen}
}

func (f *fakeSource) del(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen++
	delete(f.certs, name)
}

func (f *fakeSource) counts() (gen, rev int, loads map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.genCalls, f.revCalls, maps.Clone(f.loads)
}

func (f *fakeSource) Generation(ctx context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.genCalls++
	return f.gen, ctx.Err()
}

func (f *fakeSource) Revisions(ctx context.Context) (map[string]uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revCalls++
	out := make(map[string]uint64, len(f.certs))
	for n, c := range f.certs {
		out[n] = c.rev
	}
	return out, ctx.Err()
}

func (f *fakeSource) Load(ctx context.Context, names []string) ([]Loaded, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batchLens = append(f.batchLens, len(names))
	var out []Loaded
	for _, name := range names {
		f.loads[name]++
		if err := f.loadErr[name]; err != nil {
			return nil, err
		}
		c, ok := f.certs[name]
		if _, hidden := f.hidden[name]; !ok || hidden {
			continue
		}
		out = append(out, Loaded{Name: name, FullchainPEM: c.certPEM, KeyPEM: c.keyPEM, Names: f.names[name],
			Revision: c.rev})
	}
	return out, ctx.Err()
}

var _ Source = (*fakeSource)(nil)

// errorLog collects OnError reports.
type errorLog struct {
	mu   sync.Mutex
	errs map[string][]error
}

func (l *errorLog) onError(name string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.errs == nil {
		l.errs = map[string][]error{}
	}
	l.errs[name] = append(l.errs[name], err)
}

func (l *errorLog) count(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.errs[name])
}

func TestBinder_Sync_LoadsOnlyChanges(t *testing.T) {
	src := newFakeSource()
	a1 := leaf(t, "a.example")
	c1 := leaf(t, "c.example")
	src.put("a", a1.FullchainPEM(), a1.KeyPEM(t))
	src.put("c", c1.FullchainPEM(), c1.KeyPEM(t))
	b := New(nil)
	ctx := t.Context()

	if err := b.Sync(ctx, src); err != nil {
		t.Fatal(err)
	}
	if b.Serial("a.example") != a1.Serial() || b.Serial("c.example") != c1.Serial() {
		t.Fatalf("after first sync: a=%s c=%s", b.Serial("a.example"), b.Serial("c.example"))
	}
	// No change: Generation only.
	for range 3 {
		if err := b.Sync(ctx, src); err != nil {
			t.Fatal(err)
		}
	}
	if gen, rev, loads := src.counts(); gen != 4 || rev != 1 || loads["a"] != 1 || loads["c"] != 1 {
		t.Fatalf("calls: Generation %d, Revisions %d, loads %v; want 4, 1, one each", gen, rev, loads)
	}
	// One change: only that name is loaded.
	a2 := leaf(t, "a.example")
	src.put("a", a2.FullchainPEM(), a2.KeyPEM(t))
	if err := b.Sync(ctx, src); err != nil {
		t.Fatal(err)
	}
	if _, rev, loads := src.counts(); rev != 2 || loads["a"] != 2 || loads["c"] != 1 {
		t.Fatalf("after change: Revisions %d, loads %v; want 2, a twice and c once", rev, loads)
	}
	if b.Serial("a.example") != a2.Serial() {
		t.Fatalf("a not reloaded: %s", b.Serial("a.example"))
	}
	// Removal.
	src.del("c")
	if err := b.Sync(ctx, src); err != nil {
		t.Fatal(err)
	}
	if s := b.Serial("c.example"); s != "" {
		t.Fatalf("removed c still served: %s", s)
	}
}

func TestBinder_Sync_BadEntryRefusedOldKept(t *testing.T) {
	src := newFakeSource()
	good := leaf(t, "a.example")
	src.put("a", good.FullchainPEM(), good.KeyPEM(t))
	var log errorLog
	b := New(&Options{OnError: log.onError})
	ctx := t.Context()
	if err := b.Sync(ctx, src); err != nil {
		t.Fatal(err)
	}
	other := leaf(t, "a.example")
	src.put("a", good.FullchainPEM(), other.KeyPEM(t)) // mismatched key
	if err := b.Sync(ctx, src); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("Sync = %v, want ErrKeyMismatch", err)
	}
	if got := b.Serial("a.example"); got != good.Serial() {
		t.Fatalf("bad entry replaced the good one: %s", got)
	}
	if log.count("a") != 1 {
		t.Fatalf("OnError reports for a: %d, want 1", log.count("a"))
	}
	// The refused revision is not retried: no new load, no new report.
	src.put("x", nil, nil)
	src.del("x")
	if err := b.Sync(ctx, src); err != nil {
		t.Fatalf("Sync after unrelated change: %v", err)
	}
	if _, _, loads := src.counts(); loads["a"] != 2 || log.count("a") != 1 {
		t.Fatalf("refused revision retried: loads %d, reports %d", loads["a"], log.count("a"))
	}
	// A fixed revision is picked up.
	fixed := leaf(t, "a.example")
	src.put("a", fixed.FullchainPEM(), fixed.KeyPEM(t))
	if err := b.Sync(ctx, src); err != nil {
		t.Fatal(err)
	}
	if got := b.Serial("a.example"); got != fixed.Serial() {
		t.Fatalf("fixed entry not installed: %s", got)
	}
}

func TestBinder_Sync_ReadErrorRetried(t *testing.T) {
	src := newFakeSource()
	l := leaf(t, "a.example")
	src.put("a", l.FullchainPEM(), l.KeyPEM(t))
	fire := errors.New("disk on fire")
	src.loadErr["a"] = fire
	var log errorLog
	b := New(&Options{OnError: log.onError})
	if err := b.Sync(t.Context(), src); !errors.Is(err, fire) {
		t.Fatalf("Sync = %v, want the read error", err)
	}
	if log.count("a") != 1 {
		t.Fatalf("read error reported %d times, want 1", log.count("a"))
	}
	src.mu.Lock()
	delete(src.loadErr, "a")
	src.mu.Unlock()
	// Same generation, but the failed pass is done again.
	if err := b.Sync(t.Context(), src); err != nil {
		t.Fatal(err)
	}
	if got := b.Serial("a.example"); got != l.Serial() {
		t.Fatalf("not loaded after the error cleared: %q", got)
	}
}

func TestBinder_Sync_RefusesUncoveredNames(t *testing.T) {
	l := leaf(t, "b.example") // a leaf for b.example only
	src := newFakeSource()
	src.names["a"] = []string{"a.example"}
	src.put("a", l.FullchainPEM(), l.KeyPEM(t))
	b := New(nil)
	if err := b.Sync(t.Context(), src); !errors.Is(err, ErrNameMismatch) {
		t.Fatalf("Sync of a leaf for b.example that must serve a.example = %v, want %v", err, ErrNameMismatch)
	}
	if b.Serial("a.example") != "" || b.Serial("b.example") != "" {
		t.Fatalf("refused certificate served: a=%q b=%q", b.Serial("a.example"), b.Serial("b.example"))
	}
}

func TestBinder_Sync_LeavesOwnBindings(t *testing.T) {
	src := newFakeSource()
	b := New(nil)
	own := bind(t, b, "own", "own.example")
	l := leaf(t, "a.example")
	src.put("a", l.FullchainPEM(), l.KeyPEM(t))
	if err := b.Sync(t.Context(), src); err != nil {
		t.Fatal(err)
	}
	src.del("a")
	if err := b.Sync(t.Context(), src); err != nil {
		t.Fatal(err)
	}
	if b.Serial("own.example") != own.Serial() || b.Serial("a.example") != "" {
		t.Fatalf("own=%q a=%q; want own kept and a removed", b.Serial("own.example"), b.Serial("a.example"))
	}
}

func TestBinder_Watch_PicksUpChanges(t *testing.T) {
	a1 := leaf(t, "a.example")
	a2 := leaf(t, "a.example")
	bad := leaf(t, "a.example")
	keyPEM1, keyPEM2 := a1.KeyPEM(t), a2.KeyPEM(t)
	realNow := time.Now() // the synctest clock starts in 2000
	// In the bubble, time.Sleep only advances the fake clock to Watch's next
	// tick, and synctest.Wait waits for the pass that tick starts.
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSource()
		src.put("a", a1.FullchainPEM(), keyPEM1)
		var log errorLog
		b := New(&Options{Now: func() time.Time { return realNow }, OnError: log.onError})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- b.Watch(ctx, src, 0) }()

		synctest.Wait() // the first pass runs at once
		if got := b.Serial("a.example"); got != a1.Serial() {
			t.Fatalf("first pass: %q, want %s", got, a1.Serial())
		}
		// Ten idle polls: Generation only.
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if gen, rev, _ := src.counts(); gen != 11 || rev != 1 {
			t.Fatalf("after 10 idle polls: Generation %d, Revisions %d; want 11, 1", gen, rev)
		}
		// A change is picked up on the next tick.
		src.put("a", a2.FullchainPEM(), keyPEM2)
		time.Sleep(time.Second)
		synctest.Wait()
		if got := b.Serial("a.example"); got != a2.Serial() {
			t.Fatalf("after change: %q, want %s", got, a2.Serial())
		}
		// A bad entry is refused, the old one kept, and Watch goes on.
		src.put("a", bad.FullchainPEM(), keyPEM1)
		time.Sleep(time.Second)
		synctest.Wait()
		if got := b.Serial("a.example"); got != a2.Serial() || log.count("a") != 1 {
			t.Fatalf("after bad entry: serial %q reports %d; want %s and 1", got, log.count("a"), a2.Serial())
		}
		src.del("a")
		time.Sleep(time.Second)
		synctest.Wait()
		if got := b.Serial("a.example"); got != "" {
			t.Fatalf("after delete: %q still served", got)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Watch returned %v, want context.Canceled", err)
		}
	})
}

// panickySource panics in Generation on its first call.
type panickySource struct {
	*fakeSource
	once sync.Once
}

func (p *panickySource) Generation(ctx context.Context) (uint64, error) {
	p.once.Do(func() { panic("boom") })
	return p.fakeSource.Generation(ctx)
}

func TestBinder_Watch_SurvivesPanicAndErrors(t *testing.T) {
	l := leaf(t, "a.example")
	keyPEM := l.KeyPEM(t)
	realNow := time.Now()
	synctest.Test(t, func(t *testing.T) {
		src := &panickySource{fakeSource: newFakeSource()}
		src.put("a", l.FullchainPEM(), keyPEM)
		var log errorLog
		b := New(&Options{Now: func() time.Time { return realNow }, OnError: log.onError})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- b.Watch(ctx, src, 5*time.Second) }()
		synctest.Wait()
		if log.count("") != 1 || b.Serial("a.example") != "" {
			t.Fatalf("after panic: reports %d, serial %q", log.count(""), b.Serial("a.example"))
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := b.Serial("a.example"); got != l.Serial() {
			t.Fatalf("Watch did not recover: %q", got)
		}
		cancel()
		<-done
	})
	if err := New(nil).Watch(t.Context(), nil, 0); !errors.Is(err, ErrNilSource) {
		t.Fatalf("Watch(nil) = %v", err)
	}
}

func TestBinder_Sync_LoadsChangesInOneRead(t *testing.T) {
	src := newFakeSource()
	var leaves []*testpki.Leaf
	for i := range 5 {
		l := leaf(t, fmt.Sprintf("h%d.example", i))
		leaves = append(leaves, l)
		src.put(fmt.Sprintf("h%d", i), l.FullchainPEM(), l.KeyPEM(t))
	}
	src.hidden["h4"] = struct{}{} // gone between Revisions and Load
	var log errorLog
	b := New(&Options{OnError: log.onError})
	err := b.Sync(t.Context(), src)
	if err == nil || log.count("h4") != 1 {
		t.Fatalf("a name the batch did not return: Sync = %v, %d reports", err, log.count("h4"))
	}
	for i, l := range leaves[:4] {
		if got := b.Serial(fmt.Sprintf("h%d.example", i)); got != l.Serial() {
			t.Fatalf("h%d: serving %q, want %s", i, got, l.Serial())
		}
	}
	if _, _, loads := src.counts(); !slices.Equal(src.batchLens, []int{5}) || len(loads) != 5 {
		t.Fatalf("Load calls of %v names for %v; want one call of 5, each name once", src.batchLens, loads)
	}
	// The missing one is retried on the next pass.
	delete(src.hidden, "h4")
	if err := b.Sync(t.Context(), src); err != nil {
		t.Fatal(err)
	}
	if got := b.Serial("h4.example"); got != leaves[4].Serial() || !slices.Equal(src.batchLens, []int{5, 1}) {
		t.Fatalf("retry: serving %q, batches %v", got, src.batchLens)
	}
}

func TestBinder_Sync_LoadsInBatches(t *testing.T) {
	src := newFakeSource()
	const n = 2*batchSize + batchSize/2
	for i := range n {
		src.put(fmt.Sprintf("h%d", i), nil, nil) // refused, but loaded all the same
	}
	if err := New(nil).Sync(t.Context(), src); !errors.Is(err, ErrNoCertificate) {
		t.Fatalf("Sync of certificates without PEM = %v, want %v", err, ErrNoCertificate)
	}
	_, _, loads := src.counts()
	if want := []int{batchSize, batchSize, batchSize / 2}; !slices.Equal(src.batchLens, want) || len(loads) != n {
		t.Fatalf("Load calls of %v names for %d names; want %v for %d", src.batchLens, len(loads), want, n)
	}
	for name, k := range loads {
		if k != 1 {
			t.Fatalf("%s asked for %d times, want once", name, k)
		}
	}
}
