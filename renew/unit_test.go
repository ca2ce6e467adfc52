package renew_test

// Unit tests of the renewal logic: a fake CA (fakeCA) issues certificates
// from a test PKI in-process, and the store is a real bbolt file, so these
// run in well under a second without Pebble: go test ./renew -run Unit

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/internal/testpki"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// fakeCA is a renew.Issuers and renew.Issuer that signs every order at once
// with a test intermediate, or fails as told.
type fakeCA struct {
	tb          testing.TB
	root, inter *testpki.CA
	clock       func() time.Time

	mu       sync.Mutex
	validity time.Duration
	fail     []error                   // returned by the next orders, in turn
	tweak    func(s *testpki.LeafSpec) // changes the next leaf
	ari      *acme.RenewalInfo         // nil: the CA has no ARI
	orders   []acme.Request
	block    chan struct{} // if set, Obtain signals ordered and waits on it
	ordered  chan struct{}
}

func newFakeCA(tb testing.TB, clock func() time.Time) *fakeCA {
	root := testpki.NewRoot(tb, "fake root")
	return &fakeCA{tb: tb, root: root, inter: root.SubCA(tb, "fake intermediate", time.Time{}, time.Time{}),
		clock: clock, validity: 90 * 24 * time.Hour}
}

func (f *fakeCA) Issuer(context.Context, string, string) (renew.Issuer, error) { return f, nil }

func (f *fakeCA) Obtain(ctx context.Context, req acme.Request) (*acme.Certificate, error) {
	f.mu.Lock()
	f.orders = append(f.orders, req)
	var err error
	if len(f.fail) > 0 {
		err, f.fail = f.fail[0], f.fail[1:]
	}
	spec := testpki.LeafSpec{Names: req.Domains, NotBefore: f.clock().Add(-time.Minute), NotAfter: f.clock().Add(f.validity)}
	if f.tweak != nil {
		f.tweak(&spec)
		f.tweak = nil
	}
	block, ordered := f.block, f.ordered
	f.mu.Unlock()
	if block != nil {
		ordered <- struct{}{}
		<-block
	}
	if err != nil {
		return nil, err
	}
	leaf := f.inter.Issue(f.tb, spec, f.inter, f.root)
	cert, err := acme.ParseCertificate(leaf.FullchainPEM(), leaf.KeyPEM(f.tb))
	if err == nil && req.Replaces != nil {
		cert.Replaces = acme.SerialHex(req.Replaces)
	}
	return cert, err
}

func (f *fakeCA) RenewalInfo(ctx context.Context, leaf *x509.Certificate) (*acme.RenewalInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ari == nil {
		return nil, acme.ErrNoARI
	}
	ri := *f.ari
	return &ri, nil
}

func (f *fakeCA) Revoke(ctx context.Context, certPEM []byte, reason int) error { return nil }

func (f *fakeCA) orderCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.orders)
}

// unitEnv is a Service over a fresh store, a fake CA and a clock the test
// moves.
type unitEnv struct {
	db  *store.DB
	ca  *fakeCA
	svc *renew.Service
	now time.Time
}

func newUnitEnv(t *testing.T) *unitEnv {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "certctl.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &unitEnv{db: db, now: time.Now().Truncate(time.Second)}
	clock := func() time.Time { return e.now }
	e.ca = newFakeCA(t, clock)
	e.svc = &renew.Service{Store: db, Issuers: e.ca, Now: clock, Policy: renew.Policy{JitterFraction: -1}}
	return e
}

func (e *unitEnv) issue(t *testing.T, name string, bindings ...store.FileBinding) renew.Result {
	t.Helper()
	r := e.svc.Issue(context.Background(), &store.Certificate{Name: name, Domains: []string{name, "www." + name},
		KeyType: "ec256", Directory: "https://ca.invalid/dir", Bindings: bindings}, false)
	if r.Action != renew.ActionIssued {
		t.Fatalf("issue %s: %+v", name, r)
	}
	return r
}

func (e *unitEnv) get(t *testing.T, name string) *store.Certificate { return mustGet(t, e.db, name) }

// A 90-day certificate is not due with more than a third of its life left
// (no order), is due after, and its renewal names the one it replaces.
func TestUnit_Renew_DueDecision(t *testing.T) {
	e := newUnitEnv(t)
	ctx := context.Background()
	first := e.issue(t, "due.example")
	e.now = e.now.Add(59 * 24 * time.Hour)
	if r := e.svc.Renew(ctx, "due.example", false); r.Action != renew.ActionNotDue || r.Next.Reason != renew.ReasonThird {
		t.Fatalf("at day 59: %+v", r)
	}
	if n := e.ca.orderCount(); n != 1 {
		t.Fatalf("%d orders, want 1 (the issue)", n)
	}
	// The CA without ARI is not asked again for a day.
	if c := e.get(t, "due.example"); !c.ARI.RetryAfter.Equal(e.now.Add(24 * time.Hour)) {
		t.Fatalf("ARI retry after %v", c.ARI.RetryAfter)
	}
	e.now = e.now.Add(2 * 24 * time.Hour)
	r := e.svc.Renew(ctx, "due.example", false)
	if r.Action != renew.ActionRenewed || r.PrevSerial != first.Serial || r.Serial == first.Serial {
		t.Fatalf("at day 61: %+v", r)
	}
	if req := e.ca.orders[1]; acme.SerialHex(req.Replaces) != first.Serial {
		t.Fatalf("renewal replaces %v, want %s", req.Replaces, first.Serial)
	}
	c := e.get(t, "due.example")
	if c.ActiveVersion().Serial != r.Serial || len(c.Versions) != 2 || c.Renewal.Attempts != 0 {
		t.Fatalf("stored %+v", c.Renewal)
	}
}

// An ARI window moves the renewal inside it, and the index asks again when
// the CA's Retry-After ends.
func TestUnit_Renew_ARIWindow(t *testing.T) {
	e := newUnitEnv(t)
	ctx := context.Background()
	e.ca.ari = &acme.RenewalInfo{Start: e.now.Add(30 * 24 * time.Hour), End: e.now.Add(31 * 24 * time.Hour), RetryAfter: 6 * time.Hour}
	e.issue(t, "ari.example")
	if r := e.svc.Renew(ctx, "ari.example", false); r.Action != renew.ActionNotDue || !strings.HasPrefix(r.Next.Reason, renew.ReasonARI) {
		t.Fatalf("in ARI: %+v", r)
	}
	c := e.get(t, "ari.example")
	if c.ARI.Chosen.Before(e.ca.ari.Start) || c.ARI.Chosen.After(e.ca.ari.End) {
		t.Fatalf("chosen %v outside the window", c.ARI.Chosen)
	}
	if !c.Renewal.Next.Equal(e.now.Add(6*time.Hour)) || c.Renewal.Reason != renew.ReasonCheckARI {
		t.Fatalf("index: %v %q", c.Renewal.Next, c.Renewal.Reason)
	}
	e.now = c.ARI.Chosen
	if r := e.svc.Renew(ctx, "ari.example", false); r.Action != renew.ActionRenewed {
		t.Fatalf("at the chosen time: %+v", r)
	}
}

// Failures are recorded with a growing back-off, nothing is ordered during
// it, a CA's Retry-After is honoured, and a success clears it all.
func TestUnit_Renew_FailureBackoffRetryAfter(t *testing.T) {
	e := newUnitEnv(t)
	ctx := context.Background()
	first := e.issue(t, "fail.example")
	e.now = e.now.Add(61 * 24 * time.Hour)
	e.ca.fail = []error{errors.New("boom 1"), errors.New("boom 2"), &acme.RateLimitedError{RetryAfter: 3 * time.Hour, Detail: "slow down"}}
	var gaps []time.Duration
	for i := 1; i <= 3; i++ {
		r := e.svc.Renew(ctx, "fail.example", false)
		if r.Action != renew.ActionFailed || !strings.HasPrefix(r.Err.Error(), "fail.example: ") {
			t.Fatalf("attempt %d: %+v", i, r)
		}
		c := e.get(t, "fail.example")
		if c.Renewal.Attempts != i || c.Renewal.LastError != r.Err.Error() || c.ActiveVersion().Serial != first.Serial {
			t.Fatalf("attempt %d recorded as %+v", i, c.Renewal)
		}
		if st := renew.StatusOf(c, e.svc.Decide(c), e.now); st != renew.StatusFailing {
			t.Fatalf("status %s", st)
		}
		gaps = append(gaps, c.Renewal.Next.Sub(e.now))
		orders := e.ca.orderCount()
		e.now = e.now.Add(gaps[i-1] / 2)
		if r := e.svc.Renew(ctx, "fail.example", false); r.Action != renew.ActionNotDue || r.Next.Reason != renew.ReasonRetry {
			t.Fatalf("during back-off: %+v", r)
		}
		if e.ca.orderCount() != orders {
			t.Fatal("ordered during back-off")
		}
		e.now = c.Renewal.Next
	}
	if gaps[0] < renew.MinBackoff || gaps[0] > renew.MinBackoff*6/5 || gaps[1] <= gaps[0] || gaps[2] < 3*time.Hour {
		t.Fatalf("gaps %v: want 1 min, growing, then at least the 3 h Retry-After", gaps)
	}
	r := e.svc.Renew(ctx, "fail.example", false)
	c := e.get(t, "fail.example")
	if r.Action != renew.ActionRenewed || c.Renewal.Attempts != 0 || c.Renewal.LastError != "" {
		t.Fatalf("after recovery: %+v, %+v", r, c.Renewal)
	}
}

// A certificate that fails validation never becomes active: one that does
// not cover a name, and one that expires before the active one.
func TestUnit_Renew_ValidationRefused(t *testing.T) {
	e := newUnitEnv(t)
	ctx := context.Background()
	first := e.issue(t, "val.example")
	for _, tc := range []struct {
		name  string
		tweak func(*testpki.LeafSpec)
		want  error
	}{
		{"missing name", func(s *testpki.LeafSpec) { s.Names = s.Names[:1] }, acme.ErrInvalidCertificate},
		{"expires earlier", func(s *testpki.LeafSpec) { s.NotAfter = first.NotAfter.Add(-time.Hour) }, renew.ErrNotNewer},
		{"already expired", func(s *testpki.LeafSpec) { s.NotAfter = e.now.Add(-time.Second) }, acme.ErrInvalidCertificate},
	} {
		e.ca.tweak = tc.tweak
		r := e.svc.Renew(ctx, "val.example", true)
		if r.Action != renew.ActionFailed || !errors.Is(r.Err, tc.want) {
			t.Fatalf("%s: %+v, want %v", tc.name, r, tc.want)
		}
		if c := e.get(t, "val.example"); c.ActiveVersion().Serial != first.Serial || len(c.Versions) != 1 {
			t.Fatalf("%s: active %s with %d versions", tc.name, c.ActiveVersion().Serial, len(c.Versions))
		}
	}
}

// exportedSerial returns the serial of DIR/NAME/cert.pem.
func exportedSerial(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s/%s/cert.pem holds no PEM", dir, name)
	}
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return acme.SerialHex(leaf)
}

// Rollback through the Service alone re-activates the previous version,
// calls OnRenewed with it and re-exports its file binding; with nothing
// older left it fails with ErrNoPrevious.
func TestUnit_Rollback_RedeploysFileBindings(t *testing.T) {
	e := newUnitEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	first := e.issue(t, "rb.example", store.FileBinding{Dir: dir})
	second := e.svc.Renew(ctx, "rb.example", true)
	if second.Action != renew.ActionRenewed || exportedSerial(t, dir, "rb.example") != second.Serial {
		t.Fatalf("renewal not exported: %+v", second)
	}
	var called string
	e.svc.OnRenewed = func(_ context.Context, c *store.Certificate) { called = c.ActiveVersion().Serial }
	c, err := e.svc.Rollback(ctx, "rb.example")
	if err != nil {
		t.Fatal(err)
	}
	if c.ActiveVersion().Serial != first.Serial || called != first.Serial {
		t.Fatalf("rolled back to %s, callback got %q, want %s", c.ActiveVersion().Serial, called, first.Serial)
	}
	if got := exportedSerial(t, dir, "rb.example"); got != first.Serial {
		t.Fatalf("file binding holds %s after rollback, want %s", got, first.Serial)
	}
	if _, err := e.svc.Rollback(ctx, "rb.example"); !errors.Is(err, renew.ErrNoPrevious) {
		t.Fatalf("second rollback: %v", err)
	}
}

// lockTrace is a store that records, per caller (named in the context), when
// it asked for a certificate lock, got it and released it.
type lockTrace struct {
	*store.DB
	mu     sync.Mutex
	events []string
	asked  chan string
}

type who struct{}

func (l *lockTrace) record(ev string) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

func (l *lockTrace) Lock(ctx context.Context, name string) (func(), error) {
	w, _ := ctx.Value(who{}).(string)
	l.asked <- w
	unlock, err := l.DB.Lock(ctx, name)
	if err != nil {
		return nil, err
	}
	l.record(w + " locked")
	return func() { l.record(w + " unlocked"); unlock() }, nil
}

// Deploy and Renew on one certificate from two goroutines never interleave:
// Deploy waits for the renewal's lock, then exports the renewed version.
func TestUnit_DeployWaitsForRenew(t *testing.T) {
	e := newUnitEnv(t)
	dir := t.TempDir()
	first := e.issue(t, "dr.example", store.FileBinding{Dir: dir})
	trace := &lockTrace{DB: e.db, asked: make(chan string, 4)}
	e.svc.Store = trace
	e.ca.block, e.ca.ordered = make(chan struct{}), make(chan struct{}, 1)

	renewed := make(chan renew.Result, 1)
	go func() {
		renewed <- e.svc.Renew(context.WithValue(context.Background(), who{}, "renew"), "dr.example", true)
	}()
	<-trace.asked
	<-e.ca.ordered // the renewal holds the lock and waits on the CA
	deployed := make(chan error, 1)
	go func() {
		deployed <- e.svc.Deploy(context.WithValue(context.Background(), who{}, "deploy"), "dr.example")
	}()
	select {
	case w := <-trace.asked:
		if w != "deploy" {
			t.Fatalf("lock asked for by %q", w)
		}
	case err := <-deployed:
		t.Fatalf("Deploy returned (%v) without asking for the lock while the renewal held it", err)
	}
	close(e.ca.block)
	r := <-renewed
	if err := <-deployed; err != nil || r.Action != renew.ActionRenewed {
		t.Fatalf("renew %+v, deploy %v", r, err)
	}
	want := []string{"renew locked", "renew unlocked", "deploy locked", "deploy unlocked"}
	if strings.Join(trace.events, ", ") != strings.Join(want, ", ") {
		t.Fatalf("lock events %v, want %v", trace.events, want)
	}
	if got := exportedSerial(t, dir, "dr.example"); got != r.Serial || got == first.Serial {
		t.Fatalf("exported %s, want the renewed %s", got, r.Serial)
	}
}

// Configure merges hooks kind by kind, replaces bindings and deploys the
// active version into new ones at once.
func TestUnit_Configure_MergesAndDeploys(t *testing.T) {
	e := newUnitEnv(t)
	ctx := context.Background()
	first := e.issue(t, "cfg.example")
	if _, err := e.svc.Configure(ctx, "cfg.example", renew.Settings{Hooks: store.Hooks{Pre: []string{"/bin/true"}, Deploy: []string{"/bin/true", "d"}}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c, err := e.svc.Configure(ctx, "cfg.example", renew.Settings{Hooks: store.Hooks{Deploy: []string{"/bin/true"}},
		Bindings: []store.FileBinding{{Dir: dir}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Hooks.Pre) != 1 || len(c.Hooks.Deploy) != 1 || len(c.Bindings) != 1 {
		t.Fatalf("hooks %+v bindings %+v", c.Hooks, c.Bindings)
	}
	if got := exportedSerial(t, dir, "cfg.example"); got != first.Serial {
		t.Fatalf("new binding holds %s, want %s", got, first.Serial)
	}
	c, err = e.svc.Configure(ctx, "cfg.example", renew.Settings{ClearHooks: true, Bindings: []store.FileBinding{}})
	if err != nil || len(c.Bindings) != 0 || len(c.Hooks.Pre)+len(c.Hooks.Deploy) != 0 {
		t.Fatalf("clearing: %+v %v", c, err)
	}
	if stored := e.get(t, "cfg.example"); len(stored.Bindings) != 0 || len(stored.Hooks.Deploy) != 0 {
		t.Fatalf("stored %+v", stored)
	}
}
