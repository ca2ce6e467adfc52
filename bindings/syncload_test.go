package bindings

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/certctl/certctl/internal/testpki"
)

// listSource is a Source serving a fixed list of certificates at
// generation 1, each at revision 1.
type listSource []Loaded

func (s listSource) Generation(ctx context.Context) (uint64, error) { return 1, ctx.Err() }

func (s listSource) Revisions(ctx context.Context) (map[string]uint64, error) {
	out := make(map[string]uint64, len(s))
	for _, l := range s {
		out[l.Name] = 1
	}
	return out, ctx.Err()
}

func (s listSource) Load(ctx context.Context, names []string) ([]Loaded, error) {
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	var out []Loaded
	for _, l := range s {
		if want[l.Name] {
			l.Revision = 1
			out = append(out, l)
		}
	}
	return out, ctx.Err()
}

// TestBinder_Sync_ChainVerified checks what Loaded.ChainVerified spares:
// the signature checks only. A chain its issuer did not sign is served when
// the source vouches for it and refused when it does not, or when
// Options.Roots asks for full verification; a key that does not match the
// leaf and an expired intermediate are refused either way.
func TestBinder_Sync_ChainVerified(t *testing.T) {
	now := time.Now()
	p := pki(t)
	other := p.root.SubCA(t, "other intermediate", now.Add(-time.Hour), now.Add(48*time.Hour))
	expired := p.root.SubCA(t, "expired intermediate", now.Add(-48*time.Hour), now.Add(-time.Hour))

	good := leaf(t, "good.example")
	// A leaf of p.inter sent with another intermediate: the link is broken.
	unsigned := p.inter.Issue(t, testpki.LeafSpec{Names: []string{"unsigned.example"}}, other)
	stranger := leaf(t, "mismatch.example")
	mismatch := leaf(t, "mismatch.example")
	lapsed := expired.Issue(t, testpki.LeafSpec{Names: []string{"lapsed.example"}, NotAfter: now.Add(time.Hour)}, expired)

	for _, tc := range []struct {
		name          string
		chainVerified bool
		roots         bool
		want          map[string]error // nil: served
	}{
		{"unvouched", false, false, map[string]error{"good": nil, "unsigned": ErrBadChain, "mismatch": ErrKeyMismatch, "lapsed": ErrBadChain}},
		{"vouched", true, false, map[string]error{"good": nil, "unsigned": nil, "mismatch": ErrKeyMismatch, "lapsed": ErrBadChain}},
		{"vouched-with-roots", true, true, map[string]error{"good": nil, "unsigned": ErrBadChain, "mismatch": ErrKeyMismatch, "lapsed": ErrBadChain}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := listSource{
				{Name: "good", FullchainPEM: good.FullchainPEM(), KeyPEM: good.KeyPEM(t)},
				{Name: "unsigned", FullchainPEM: unsigned.FullchainPEM(), KeyPEM: unsigned.KeyPEM(t)},
				{Name: "mismatch", FullchainPEM: mismatch.FullchainPEM(), KeyPEM: stranger.KeyPEM(t)},
				{Name: "lapsed", FullchainPEM: lapsed.FullchainPEM(), KeyPEM: lapsed.KeyPEM(t)},
			}
			for i := range src {
				src[i].ChainVerified = tc.chainVerified
			}
			opts := &Options{}
			if tc.roots {
				opts.Roots = p.root.Pool()
			}
			refused := map[string]error{}
			opts.OnError = func(name string, err error) { refused[name] = err }
			b := New(opts)
			_ = b.Sync(t.Context(), src)
			for name, want := range tc.want {
				host := name + ".example"
				if want == nil {
					if err := refused[name]; err != nil || b.Serial(host) == "" {
						t.Errorf("%s: refused (%v) or not served (serial %q); want served", name, err, b.Serial(host))
					}
					continue
				}
				if err := refused[name]; !errors.Is(err, want) {
					t.Errorf("%s: refusal %v, want %v", name, err, want)
				}
				if s := b.Serial(host); s != "" {
					t.Errorf("%s: served serial %s, want nothing", name, s)
				}
			}
		})
	}
}

// TestBinder_Sync_ManyValidatedInParallel checks a Sync large enough to
// validate on several goroutines: every good certificate is served with its
// own serial and every bad one is refused under its own name, whether its
// source vouched for its chain or not.
func TestBinder_Sync_ManyValidatedInParallel(t *testing.T) {
	const n = 5*minPerWorker + 7
	var src listSource
	serials := map[string]string{}
	for i := range n {
		name := fmt.Sprintf("h%03d.example", i)
		l := leaf(t, name)
		key := l.KeyPEM(t)
		if i%10 == 3 {
			key = leaf(t, name).KeyPEM(t) // another key: refused
		} else {
			serials[name] = l.Serial()
		}
		src = append(src, Loaded{Name: name, FullchainPEM: l.FullchainPEM(), KeyPEM: key, ChainVerified: i%2 == 0})
	}
	refused := map[string]error{}
	b := New(&Options{OnError: func(name string, err error) { refused[name] = err }})
	err := b.Sync(t.Context(), src)
	if err == nil {
		t.Fatal("Sync with mismatched keys returned no error")
	}
	for _, l := range src {
		want, good := serials[l.Name]
		if got := b.Serial(l.Name); got != want {
			t.Errorf("%s: serves %q, want %q", l.Name, got, want)
		}
		if err := refused[l.Name]; good != (err == nil) || (!good && !errors.Is(err, ErrKeyMismatch)) {
			t.Errorf("%s: refusal %v (good: %v)", l.Name, err, good)
		}
	}
	if got, want := len(refused), n-len(serials); got != want {
		t.Errorf("%d refusals, want %d", got, want)
	}
}

// panicOnSecondLoad is a listSource whose second Load call panics.
type panicOnSecondLoad struct {
	listSource
	loads int
}

func (p *panicOnSecondLoad) Load(ctx context.Context, names []string) ([]Loaded, error) {
	if p.loads++; p.loads == 2 {
		panic("second load")
	}
	return p.listSource.Load(ctx, names)
}

// TestBinder_Sync_SourcePanicLeavesNoValidator checks that a source
// panicking in the middle of a Sync that validates on several goroutines
// leaves none of them behind, and that the panic reaches the caller (Watch
// recovers it) with nothing installed.
func TestBinder_Sync_SourcePanicLeavesNoValidator(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	l := leaf(t, "p.example")
	full, key := l.FullchainPEM(), l.KeyPEM(t)
	var src listSource
	for i := range batchSize + 1 { // two Load calls
		src = append(src, Loaded{Name: fmt.Sprintf("p%04d", i), FullchainPEM: full, KeyPEM: key, Names: []string{"p.example"}})
	}
	b := New(nil)
	var recovered any
	func() {
		defer func() { recovered = recover() }()
		_ = b.Sync(t.Context(), &panicOnSecondLoad{listSource: src})
	}()
	if recovered == nil {
		t.Fatal("Sync returned normally; the source panicked")
	}
	if names := b.Names(); len(names) != 0 {
		t.Errorf("binder holds %d certificates after a panicking Sync, want none", len(names))
	}
	goleak.VerifyNone(t, ignore)
}

// TestQuickKeyPair_AgreesWithCryptoTLS checks quickKeyPair against
// tls.X509KeyPair: for each key encoding it takes, the same chain, leaf and
// key; for anything else (another encoding under a label, a key of another
// certificate) it declines, leaving the answer to crypto/tls.
func TestQuickKeyPair_AgreesWithCryptoTLS(t *testing.T) {
	ecKey := testpki.NewKey(t)
	rsaKey := testpki.NewRSAKey(t)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec := issue(t, testpki.LeafSpec{Names: []string{"q.example"}, Key: ecKey})
	rsaLeaf := issue(t, testpki.LeafSpec{Names: []string{"q.example"}, Key: rsaKey})
	ed := issue(t, testpki.LeafSpec{Names: []string{"q.example"}, Key: edKey})
	block := func(typ string, der []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	}
	pkcs8 := func(k any) []byte { der, err := x509.MarshalPKCS8PrivateKey(k); return block("PRIVATE KEY", der, err) }
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		chain []byte
		key   []byte
		quick bool
	}{
		{"ec-pkcs8", ec.FullchainPEM(), pkcs8(ecKey), true},
		{"ec-sec1", ec.FullchainPEM(), block("EC PRIVATE KEY", sec1, nil), true},
		{"rsa-pkcs1", rsaLeaf.FullchainPEM(), block("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), nil), true},
		{"rsa-pkcs8", rsaLeaf.FullchainPEM(), pkcs8(rsaKey), true},
		{"ed25519-pkcs8", ed.FullchainPEM(), pkcs8(edKey), true},
		{"sec1-labelled-pkcs8", ec.FullchainPEM(), block("PRIVATE KEY", sec1, nil), false},
		{"other-certificate", rsaLeaf.FullchainPEM(), pkcs8(ecKey), false},
		{"no-certificate", nil, pkcs8(ecKey), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := quickKeyPair(tc.chain, tc.key)
			if ok != tc.quick {
				t.Fatalf("quickKeyPair ok = %v, want %v", ok, tc.quick)
			}
			if !ok {
				return
			}
			want, err := tls.X509KeyPair(tc.chain, tc.key)
			if err != nil {
				t.Fatalf("quickKeyPair took a pair crypto/tls refuses: %v", err)
			}
			if !reflect.DeepEqual(got.Certificate, want.Certificate) || !bytes.Equal(got.Leaf.Raw, want.Leaf.Raw) {
				t.Error("chain or leaf differ from crypto/tls's")
			}
			if !got.PrivateKey.(crypto.Signer).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(want.PrivateKey.(crypto.Signer).Public()) {
				t.Error("key differs from crypto/tls's")
			}
		})
	}
}
