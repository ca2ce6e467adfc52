package bindings

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestBinder_Set_RefusesBadCertificates(t *testing.T) {
	p := pki(t)
	good := leaf(t, leafSpec{names: []string{"svc.example", "*.svc.example"}})
	other := leaf(t, leafSpec{names: []string{"svc.example"}})
	expired := leaf(t, leafSpec{names: []string{"svc.example"},
		notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-time.Minute)})
	future := leaf(t, leafSpec{names: []string{"svc.example"}, notBefore: time.Now().Add(time.Hour)})
	// Signed by a root that is not the one the chain claims.
	stranger := newRootCA(t, "stranger").issue(t, leafSpec{names: []string{"svc.example"}})
	stranger.chain = append(stranger.chain, p.inter.cert.Raw)
	// A chain ending in a self-signed root that did not sign the intermediate.
	wrongRoot := leaf(t, leafSpec{names: []string{"svc.example"}})
	wrongRoot.chain = append(wrongRoot.chain, newRootCA(t, "other root").cert.Raw)
	// An intermediate that has expired, chain without root (link check).
	oldInter := p.root.subCA(t, "expired intermediate", time.Now().Add(-72*time.Hour), time.Now().Add(-time.Hour))
	oldChain := oldInter.issue(t, leafSpec{names: []string{"svc.example"}}, oldInter)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		certPEM []byte
		keyPEM  []byte
		names   []string
		want    error
	}{
		{"empty cert", nil, good.keyPEM(t), nil, ErrNoCertificate},
		{"garbage cert", []byte("not a PEM at all"), good.keyPEM(t), nil, ErrNoCertificate},
		{"key only as cert", good.keyPEM(t), good.keyPEM(t), nil, ErrNoCertificate},
		{"corrupt DER", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), good.keyPEM(t), nil, ErrBadCertificate},
		{"empty key", good.certPEM(), nil, nil, ErrNoKey},
		{"garbage key", good.certPEM(), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), nil, ErrNoKey},
		{"mismatched key", good.certPEM(), other.keyPEM(t), nil, ErrKeyMismatch},
		{"mismatched key type", good.certPEM(), (&issued{key: rsaKey}).keyPEM(t), nil, ErrKeyMismatch},
		{"expired", expired.certPEM(), expired.keyPEM(t), nil, ErrExpired},
		{"not yet valid", future.certPEM(), future.keyPEM(t), nil, ErrNotYetValid},
		{"name not covered", good.certPEM(), good.keyPEM(t), []string{"evil.example"}, ErrNameMismatch},
		{"wildcard two labels", good.certPEM(), good.keyPEM(t), []string{"a.b.svc.example"}, ErrNameMismatch},
		{"wildcard not in SANs", other.certPEM(), other.keyPEM(t), []string{"*.svc.example"}, ErrNameMismatch},
		{"empty name", good.certPEM(), good.keyPEM(t), []string{""}, ErrInvalidName},
		{"broken link", stranger.certPEM(), stranger.keyPEM(t), nil, ErrBadChain},
		{"wrong root", wrongRoot.certPEM(), wrongRoot.keyPEM(t), nil, ErrBadChain},
		{"expired intermediate", oldChain.certPEM(), oldChain.keyPEM(t), nil, ErrBadChain},
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
			if got := b.Serial("svc.example"); got != good.serial() {
				t.Fatalf("after refused Set, Serial = %s, want the old %s", got, good.serial())
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
	withRoot := p.inter.issue(t, leafSpec{names: []string{"a.example"}}, p.inter, p.root)
	noChain := p.inter.issue(t, leafSpec{names: []string{"a.example"}})
	outOfOrder := p.inter.issue(t, leafSpec{names: []string{"a.example"}}, p.root, p.inter)
	tests := []struct {
		name  string
		i     *issued
		roots bool // Options.Roots = the shared root
		want  error
	}{
		{"leaf+intermediate links", leaf(t, leafSpec{names: []string{"a.example"}}), false, nil},
		{"leaf+intermediate+root", withRoot, false, nil},
		{"lone leaf", noChain, false, nil},
		{"lone leaf with roots", noChain, true, ErrBadChain},
		{"leaf+intermediate with roots", leaf(t, leafSpec{names: []string{"a.example"}}), true, nil},
		{"root before intermediate", outOfOrder, false, ErrBadChain},
		{"other root with roots", newRootCA(t, "x").issue(t, leafSpec{names: []string{"a.example"}}), true, ErrBadChain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &Options{Now: func() time.Time { return now }}
			if tt.roots {
				o.Roots = p.root.pool()
			}
			err := New(o).Set("a", tt.i.certPEM(), tt.i.keyPEM(t), nil)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Set = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestBinder_Set_UsesInjectedClock(t *testing.T) {
	l := leaf(t, leafSpec{names: []string{"a.example"}})
	later := l.leaf.NotAfter
	b := New(&Options{Now: func() time.Time { return later }})
	if err := b.Set("a", l.certPEM(), l.keyPEM(t), nil); !errors.Is(err, ErrExpired) {
		t.Fatalf("Set at NotAfter = %v, want ErrExpired", err)
	}
}
