package bindings

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/testpki"
)

func TestBinder_Set_RefusesBadCertificates(t *testing.T) {
	p := pki(t)
	good := leaf(t, "svc.example", "*.svc.example")
	other := leaf(t, "svc.example")
	svc := []string{"svc.example"}
	expired := issue(t, testpki.LeafSpec{Names: svc,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Minute)})
	future := issue(t, testpki.LeafSpec{Names: svc, NotBefore: time.Now().Add(time.Hour)})
	// Signed by a root that is not the one the chain claims.
	stranger := testpki.NewRoot(t, "stranger").Issue(t, testpki.LeafSpec{Names: svc}, p.inter)
	// A chain ending in a self-signed root that did not sign the intermediate.
	wrongRoot := p.inter.Issue(t, testpki.LeafSpec{Names: svc}, p.inter, testpki.NewRoot(t, "other root"))
	// An intermediate that has expired, chain without root (link check).
	oldInter := p.root.SubCA(t, "expired intermediate", time.Now().Add(-72*time.Hour), time.Now().Add(-time.Hour))
	oldChain := oldInter.Issue(t, testpki.LeafSpec{Names: svc}, oldInter)
	rsaLeaf := &testpki.Leaf{Key: testpki.NewRSAKey(t)} // a key alone
	tests := []struct {
		name    string
		certPEM []byte
		keyPEM  []byte
		names   []string
		want    error
	}{
		{"empty cert", nil, good.KeyPEM(t), nil, ErrNoCertificate},
		{"garbage cert", []byte("not a PEM at all"), good.KeyPEM(t), nil, ErrNoCertificate},
		{"key only as cert", good.KeyPEM(t), good.KeyPEM(t), nil, ErrNoCertificate},
		{"corrupt DER", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), good.KeyPEM(t), nil, ErrBadCertificate},
		{"empty key", good.FullchainPEM(), nil, nil, ErrNoKey},
		{"garbage key", good.FullchainPEM(), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), nil, ErrNoKey},
		{"mismatched key", good.FullchainPEM(), other.KeyPEM(t), nil, ErrKeyMismatch},
		{"mismatched key type", good.FullchainPEM(), rsaLeaf.KeyPEM(t), nil, ErrKeyMismatch},
		{"expired", expired.FullchainPEM(), expired.KeyPEM(t), nil, ErrExpired},
		{"not yet valid", future.FullchainPEM(), future.KeyPEM(t), nil, ErrNotYetValid},
		{"name not covered", good.FullchainPEM(), good.KeyPEM(t), []string{"evil.example"}, ErrNameMismatch},
		{"wildcard two labels", good.FullchainPEM(), good.KeyPEM(t), []string{"a.b.svc.example"}, ErrNameMismatch},
		{"wildcard not in SANs", other.FullchainPEM(), other.KeyPEM(t), []string{"*.svc.example"}, ErrNameMismatch},
		{"empty name", good.FullchainPEM(), good.KeyPEM(t), []string{""}, ErrInvalidName},
		{"broken link", stranger.FullchainPEM(), stranger.KeyPEM(t), nil, ErrBadChain},
		{"wrong root", wrongRoot.FullchainPEM(), wrongRoot.KeyPEM(t), nil, ErrBadChain},
		{"expired intermediate", oldChain.FullchainPEM(), oldChain.KeyPEM(t), nil, ErrBadChain},
	}
	var (
		mu       sync.Mutex
		reported = map[string]error{}
	)
	b := New(&Options{OnError: func(name string, err error) {
		mu.Lock()
		defer mu.Unlock()
		reported[name] = err
	}})
	mustSet(t, b, "svc", good, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := b.Set("svc", tt.certPEM, tt.keyPEM, tt.names)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Set = %v, want %v", err, tt.want)
			}
			if got := b.Serial("svc.example"); got != good.Serial() {
				t.Fatalf("after refused Set, Serial = %s, want the old %s", got, good.Serial())
			}
			mu.Lock()
			defer mu.Unlock()
			if !errors.Is(reported["svc"], tt.want) {
				t.Fatalf("OnError got %v, want %v", reported["svc"], tt.want)
			}
			delete(reported, "svc")
		})
	}
}

func TestBinder_Set_ErrorsAreDistinct(t *testing.T) {
	all := []error{ErrNoCertificate, ErrBadCertificate, ErrNoKey, ErrKeyMismatch, ErrNotYetValid,
		ErrExpired, ErrNameMismatch, ErrBadChain, ErrInvalidName, ErrUnknownName, ErrNilSource}
	for i, a := range all {
		for j, b := range all {
			if i != j && errors.Is(a, b) {
				t.Errorf("%v matches %v", a, b)
			}
		}
	}
}

func TestBinder_Set_ErrorNamesSubjectFirst(t *testing.T) {
	b := New(nil)
	err := b.Set("web", nil, nil, nil)
	if err == nil || err.Error() != "web: reading certificate PEM: bindings: no certificate" {
		t.Fatalf("error = %v", err)
	}
	if err := b.Set("", nil, nil, nil); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("empty binding name: %v, want ErrInvalidName", err)
	}
}

func TestBinder_Set_ChainForms(t *testing.T) {
	p := pki(t)
	now := time.Now()
	a := testpki.LeafSpec{Names: []string{"a.example"}}
	withRoot := p.inter.Issue(t, a, p.inter, p.root)
	noChain := p.inter.Issue(t, a)
	outOfOrder := p.inter.Issue(t, a, p.root, p.inter)
	tests := []struct {
		name  string
		i     *testpki.Leaf
		roots bool // Options.Roots = the shared root
		want  error
	}{
		{"leaf+intermediate links", leaf(t, "a.example"), false, nil},
		{"leaf+intermediate+root", withRoot, false, nil},
		{"lone leaf", noChain, false, nil},
		{"lone leaf with roots", noChain, true, ErrBadChain},
		{"leaf+intermediate with roots", leaf(t, "a.example"), true, nil},
		{"root before intermediate", outOfOrder, false, ErrBadChain},
		{"other root with roots", testpki.NewRoot(t, "x").Issue(t, a), true, ErrBadChain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &Options{Now: func() time.Time { return now }}
			if tt.roots {
				o.Roots = p.root.Pool()
			}
			err := New(o).Set("a", tt.i.FullchainPEM(), tt.i.KeyPEM(t), nil)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Set = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestBinder_Set_UsesInjectedClock(t *testing.T) {
	l := leaf(t, "a.example")
	later := l.Cert.NotAfter
	b := New(&Options{Now: func() time.Time { return later }})
	if err := b.Set("a", l.FullchainPEM(), l.KeyPEM(t), nil); !errors.Is(err, ErrExpired) {
		t.Fatalf("Set at NotAfter = %v, want ErrExpired", err)
	}
}
