package bindings

import (
	"sync"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/testpki"
)

// testPKI is a root and an intermediate shared by the tests of this package.
type testPKI struct {
	root  *testpki.CA
	inter *testpki.CA
}

var (
	pkiOnce   sync.Once
	sharedPKI testPKI
)

func pki(tb testing.TB) testPKI {
	pkiOnce.Do(func() {
		sharedPKI.root = testpki.NewRoot(tb, "certctl test root")
		sharedPKI.inter = sharedPKI.root.SubCA(tb, "certctl test intermediate", time.Time{}, time.Time{})
	})
	return sharedPKI
}

// issue issues the leaf s describes from the shared intermediate, with the
// chain leaf, intermediate.
func issue(tb testing.TB, s testpki.LeafSpec) *testpki.Leaf {
	tb.Helper()
	p := pki(tb)
	return p.inter.Issue(tb, s, p.inter)
}

// leaf issues a leaf for names as issue does.
func leaf(tb testing.TB, names ...string) *testpki.Leaf {
	tb.Helper()
	return issue(tb, testpki.LeafSpec{Names: names})
}

// mustSet installs l's fullchain and key under name or fails the test.
func mustSet(tb testing.TB, b *Binder, name string, l *testpki.Leaf, names []string) {
	tb.Helper()
	if err := b.Set(name, l.FullchainPEM(), l.KeyPEM(tb), names); err != nil {
		tb.Fatalf("Set(%q): %v", name, err)
	}
}

// bind issues a leaf for names and installs it under binding.
func bind(tb testing.TB, b *Binder, binding string, names ...string) *testpki.Leaf {
	tb.Helper()
	l := leaf(tb, names...)
	mustSet(tb, b, binding, l, nil)
	return l
}

// mustServe fails the test unless b serves the certificate with serial want
// ("" for none) for name; when says at which step.
func mustServe(tb testing.TB, b *Binder, name, want, when string) {
	tb.Helper()
	if got := b.Serial(name); got != want {
		tb.Fatalf("%s: Serial(%q) = %q, want %q", when, name, got, want)
	}
}
