package store_test

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	mrand "math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certctl/certctl"
	"github.com/certctl/certctl/bindings"
	"github.com/certctl/certctl/internal/testpki"
	"github.com/certctl/certctl/store"
)

// version returns l as a store version with the given chain.
func version(t *testing.T, l *testpki.Leaf, seq int, chainPEM []byte) store.Version {
	t.Helper()
	return store.Version{
		Seq:       seq,
		Serial:    l.Serial(),
		CertPEM:   l.CertPEM(),
		ChainPEM:  chainPEM,
		KeyPEM:    l.KeyPEM(t),
		NotBefore: l.Cert.NotBefore,
		NotAfter:  l.Cert.NotAfter,
		Issued:    time.Now(),
	}
}

// refusal is one call of Options.OnError.
type refusal struct {
	name string
	err  error
}

func (r refusal) String() string { return r.name + ": " + r.err.Error() }

// refusalLog collects the binder's OnError calls.
type refusalLog struct {
	mu   sync.Mutex
	list []refusal
}

func (r *refusalLog) add(name string, err error) {
	r.mu.Lock()
	r.list = append(r.list, refusal{name, err})
	r.mu.Unlock()
}

func (r *refusalLog) since(n int) []refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]refusal(nil), r.list[n:]...)
}

func (r *refusalLog) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.list)
}

// handshake runs one TLS handshake with srv with server name sni ("" =
// none) and returns the leaf the server sent, the client's error and the
// server's. With roots set the client verifies the chain and the name;
// without, it accepts any certificate.
func handshake(t *testing.T, srv *testpki.Server, sni string, roots *x509.CertPool) (leaf *x509.Certificate, clientErr, serverErr error) {
	t.Helper()
	cfg := &tls.Config{ServerName: sni, RootCAs: roots, MinVersion: tls.VersionTLS12}
	if roots == nil {
		cfg.InsecureSkipVerify = true
	}
	cs, clientErr := srv.Dial(cfg)
	if clientErr == nil {
		leaf = cs.PeerCertificates[0]
	}
	return leaf, clientErr, srv.Result(t)
}

// TestDB_BinderSource_BadRecordsRefused follows a real bbolt store with a
// binder and writes bad versions of a certificate into it: each is refused by
// Sync and reported, and the binder keeps serving the last good certificate,
// through Serial and through real TLS handshakes.
func TestDB_BinderSource_BadRecordsRefused(t *testing.T) {
	root := testpki.NewRoot(t, "Test Root")
	inter := root.SubCA(t, "Test Intermediate", time.Time{}, time.Time{})
	otherRoot := testpki.NewRoot(t, "Other Root")
	// Same subject as the real intermediate, another key: only the signature
	// tells them apart.
	otherInter := otherRoot.SubCA(t, "Test Intermediate", time.Time{}, time.Time{})
	roots := root.Pool()

	modes := []struct {
		name string
		// roots is Options.Roots.
		roots *x509.CertPool
		// chain returns the ChainPEM stored with a leaf of ca.
		chain func(ca, caRoot *testpki.CA) []byte
	}{
		// Full verification to a configured root; the store holds the
		// intermediate only, as an ACME CA sends it.
		{"Roots", roots, func(ca, _ *testpki.CA) []byte { return ca.PEM() }},
		// No configured roots: the binder checks the chain against its own
		// self-signed last certificate.
		{"SelfContained", nil, func(ca, caRoot *testpki.CA) []byte {
			return append(ca.PEM(), caRoot.PEM()...)
		}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			testBadRecordsRefused(t, root, inter, otherRoot, otherInter, roots, m.roots, m.chain)
		})
	}
}

func testBadRecordsRefused(t *testing.T, root, inter, otherRoot, otherInter *testpki.CA, clientRoots, binderRoots *x509.CertPool,
	chain func(ca, caRoot *testpki.CA) []byte) {
	ctx := t.Context()
	now := time.Now()
	db, err := store.Open(filepath.Join(t.TempDir(), "certctl.db"), nil)
	if err != nil {
		t.Fatal(err)
	}

	// valid is a leaf for a.example, valid now.
	valid := testpki.LeafSpec{Names: []string{"a.example"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour)}
	good := inter.Issue(t, valid)
	goodChain := chain(inter, root)
	rec := &store.Certificate{
		Name:      "a.example",
		Domains:   []string{"a.example"},
		KeyType:   "ec256",
		Directory: "https://ca.example/dir",
	}
	rec.AddVersion(version(t, good, rec.NextSeq(), goodChain))
	if err := db.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}

	var refused refusalLog
	bd := bindings.New(&bindings.Options{Roots: binderRoots, OnError: refused.add})
	src := certctl.BinderSource(db)
	if err := bd.Sync(ctx, src); err != nil {
		t.Fatalf("Sync of a good record: %v", err)
	}
	goodSerial := good.Serial()
	if got := bd.Serial("a.example"); got != goodSerial {
		t.Fatalf("Serial(a.example) = %q, want %q", got, goodSerial)
	}
	if n := refused.len(); n != 0 {
		t.Fatalf("good record: %d refusals reported: %v", n, refused.since(0))
	}
	srv := testpki.ServeTLS(t, bd.TLSConfig(bindings.Intermediate))

	// servesGood checks that a.example is still served the good certificate,
	// by lookup and over TLS with full client verification.
	servesGood := func(t *testing.T, want *testpki.Leaf) {
		t.Helper()
		wantSerial := want.Serial()
		if got := bd.Serial("a.example"); got != wantSerial {
			t.Errorf("Serial(a.example) = %q, want %q", got, wantSerial)
		}
		leaf, cerr, serr := handshake(t, srv, "a.example", clientRoots)
		if cerr != nil || serr != nil {
			t.Fatalf("handshake for a.example: client %v, server %v", cerr, serr)
		}
		if got := hex.EncodeToString(leaf.SerialNumber.Bytes()); got != wantSerial {
			t.Errorf("handshake for a.example got serial %s, want %s", got, wantSerial)
		}
	}
	servesGood(t, good)

	strangerPEM := (&testpki.Leaf{Key: testpki.NewKey(t)}).KeyPEM(t)
	garbage := make([]byte, 600)
	if _, err := rand.Read(garbage); err != nil {
		t.Fatal(err)
	}
	garbageBlock := func(typ string) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: garbage}) }
	expired, notYet := valid, valid
	expired.NotBefore, expired.NotAfter = now.Add(-90*24*time.Hour), now.Add(-time.Hour)
	notYet.NotBefore = now.Add(time.Hour)
	cases := []struct {
		name  string
		ca    *testpki.CA      // signs the leaf
		leaf  testpki.LeafSpec // the leaf it signs
		chain []byte           // the version's ChainPEM
		edit  func(v *store.Version)
		want  error
	}{
		{"KeyMismatch", inter, valid, goodChain, func(v *store.Version) { v.KeyPEM = strangerPEM }, bindings.ErrKeyMismatch},
		{"GarbageCertificateBlock", inter, valid, goodChain, func(v *store.Version) { v.CertPEM = garbageBlock("CERTIFICATE") },
			bindings.ErrBadCertificate},
		{"GarbageNoPEMNoChain", inter, valid, nil, func(v *store.Version) { v.CertPEM = garbage }, bindings.ErrNoCertificate},
		// With the leaf unreadable, the first certificate of the loaded full
		// chain is the intermediate: it is taken for the leaf and refused
		// because the key is not its own.
		{"GarbageNoPEMWithChain", inter, valid, goodChain,
			func(v *store.Version) { v.CertPEM = []byte("not a certificate\x00\xff\n") }, bindings.ErrKeyMismatch},
		{"GarbageKey", inter, valid, goodChain, func(v *store.Version) { v.KeyPEM = garbageBlock("PRIVATE KEY") }, bindings.ErrNoKey},
		{"Expired", inter, expired, goodChain, nil, bindings.ErrExpired},
		{"NotYetValid", inter, notYet, goodChain, nil, bindings.ErrNotYetValid},
		{"IntermediateOfAnotherCA", inter, valid, chain(otherInter, otherRoot), nil, bindings.ErrBadChain},
		// The mirror case: a leaf of the other CA (same intermediate name)
		// stored with this CA's chain.
		{"SignedByAnotherCA", otherInter, valid, goodChain, nil, bindings.ErrBadChain},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := refused.len()
			v := version(t, tc.ca.Issue(t, tc.leaf), rec.NextSeq(), tc.chain)
			if tc.edit != nil {
				tc.edit(&v)
			}
			rec.AddVersion(v)
			if err := db.Put(ctx, rec); err != nil {
				t.Fatal(err)
			}
			err := bd.Sync(ctx, src)
			if !errors.Is(err, tc.want) {
				t.Errorf("Sync = %v, want an error matching %v", err, tc.want)
			}
			got := refused.since(before)
			if len(got) != 1 || got[0].name != "a.example" || !errors.Is(got[0].err, tc.want) {
				t.Errorf("OnError calls = %v, want one for a.example matching %v", got, tc.want)
			}
			servesGood(t, good)

			// A refused revision is not tried again.
			if err := bd.Sync(ctx, src); err != nil {
				t.Errorf("second Sync with nothing changed = %v, want nil", err)
			}
			if n := refused.len() - before; n != 1 {
				t.Errorf("%d refusals after a second Sync, want still 1", n)
			}
		})
	}

	// A leaf for other names than the record's domains: the store gives the
	// binder the domains (Loaded.Names), so Sync refuses it.
	t.Run("OtherNames", func(t *testing.T) {
		other := valid
		other.Names = []string{"b.example"}
		rec.AddVersion(version(t, inter.Issue(t, other), rec.NextSeq(), goodChain))
		if err := db.Put(ctx, rec); err != nil {
			t.Fatal(err)
		}
		before := refused.len()
		if err := bd.Sync(ctx, src); !errors.Is(err, bindings.ErrNameMismatch) {
			t.Errorf("Sync of a leaf for b.example under a.example = %v, want %v", err, bindings.ErrNameMismatch)
		}
		if got := refused.since(before); len(got) != 1 || !errors.Is(got[0].err, bindings.ErrNameMismatch) {
			t.Errorf("OnError calls = %v, want one matching %v", got, bindings.ErrNameMismatch)
		}
		servesGood(t, good)
	})

	// Garbage server names and no server name never break the server: an
	// unknown name fails the handshake with ErrUnknownName, a missing one
	// gets the default certificate (the only binding, a.example).
	t.Run("ServerNames", func(t *testing.T) {
		leaf, cerr, serr := handshake(t, srv, "", nil)
		if cerr != nil || serr != nil {
			t.Fatalf("handshake without SNI: client %v, server %v", cerr, serr)
		}
		if got := hex.EncodeToString(leaf.SerialNumber.Bytes()); got != goodSerial {
			t.Errorf("handshake without SNI got serial %s, want the default %s", got, goodSerial)
		}
		rng := mrand.New(mrand.NewPCG(1, 2))
		asked := 0 // handshakes that reached the binder
		for i := range 40 {
			sni := randomName(rng, i)
			// crypto/tls sends no trailing dots, and no SNI at all for
			// "." or ".." (then the default certificate is served).
			if sent := strings.TrimRight(sni, "."); sent == "" || strings.EqualFold(sent, "a.example") {
				continue
			}
			_, cerr, serr := handshake(t, srv, sni, nil)
			if cerr == nil {
				t.Errorf("handshake with SNI %q succeeded, want a refusal", sni)
			}
			// The server may reject a malformed name before asking the
			// binder; when it asked, the binder must say it does not know it.
			if serr == nil {
				t.Errorf("server handshake with SNI %q succeeded", sni)
			} else if errors.Is(serr, bindings.ErrUnknownName) {
				asked++
			} else if strings.Contains(serr.Error(), "bindings") {
				t.Errorf("server handshake with SNI %q: %v, want %v", sni, serr, bindings.ErrUnknownName)
			}
		}
		if asked < 20 {
			t.Errorf("only %d of the garbage-SNI handshakes reached the binder", asked)
		}
		// The same names, and rawer ones, straight to GetCertificate.
		if c, err := bd.GetCertificate(nil); err != nil || hex.EncodeToString(c.Leaf.SerialNumber.Bytes()) != goodSerial {
			t.Errorf("GetCertificate(nil) = %v, %v; want the default certificate", c, err)
		}
		for i := range 2000 {
			sni := randomName(rng, i)
			c, err := bd.GetCertificate(&tls.ClientHelloInfo{ServerName: sni})
			if c != nil || !errors.Is(err, bindings.ErrUnknownName) {
				t.Fatalf("GetCertificate(%q) = %v, %v; want %v", sni, c, err, bindings.ErrUnknownName)
			}
		}
		for _, sni := range []string{"a.example", "A.EXAMPLE", "a.example."} {
			if c, err := bd.GetCertificate(&tls.ClientHelloInfo{ServerName: sni}); err != nil || hex.EncodeToString(c.Leaf.SerialNumber.Bytes()) != goodSerial {
				t.Errorf("GetCertificate(%q) = %v, %v; want the good certificate", sni, c, err)
			}
		}
	})

	// A good new version is picked up: the refusals above were not Sync
	// ignoring the store.
	t.Run("GoodVersionInstalled", func(t *testing.T) {
		renewedSpec := valid
		renewedSpec.NotBefore = now.Add(-time.Minute)
		renewed := inter.Issue(t, renewedSpec)
		rec.AddVersion(version(t, renewed, rec.NextSeq(), goodChain))
		if err := db.Put(ctx, rec); err != nil {
			t.Fatal(err)
		}
		before := refused.len()
		if err := bd.Sync(ctx, src); err != nil {
			t.Fatalf("Sync of a good new version: %v", err)
		}
		if n := refused.len() - before; n != 0 {
			t.Errorf("%d refusals for a good version", n)
		}
		servesGood(t, renewed)
	})
}

// randomName returns a server name that no binding serves: random bytes,
// printable or not, from 1 to 300 long, and a few crafted shapes.
func randomName(rng *mrand.Rand, i int) string {
	crafted := []string{".", "..", "*", "*.", "*.example", "*.a.example", "a..example", "a.example..",
		"xa.example", "a.example.com", "a.exampl", "a\x00.example", strings.Repeat("a.", 200) + "example",
		strings.Repeat("x", 300), "\xff\xfe.example", "ä.example", "a.example\x00"}
	if i < len(crafted) {
		return crafted[i]
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_*"
	b := make([]byte, 1+rng.IntN(300))
	for j := range b {
		if rng.IntN(8) == 0 {
			b[j] = byte(rng.IntN(256))
		} else {
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
	}
	return string(b)
}
