package store_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certctl/certctl"
	"github.com/certctl/certctl/bindings"
	"github.com/certctl/certctl/store"
)

// pkiCA is a certificate authority made in the test: a root or an
// intermediate.
type pkiCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func randomSerial(t *testing.T) *big.Int {
	t.Helper()
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	return s.Add(s, big.NewInt(1))
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// newCA returns a root CA when parent is nil, otherwise an intermediate
// signed by parent. Both are valid from a day ago for a year.
func newCA(t *testing.T, parent *pkiCA, cn string) *pkiCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(t),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-24 * time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	issuer, signer := tmpl, key
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &pkiCA{cert: c, key: key, pem: pemCert(der)}
}

// issued is a leaf certificate with its key.
type issued struct {
	cert    *x509.Certificate
	certPEM []byte
	keyPEM  []byte
}

// issue signs a leaf for names valid from notBefore to notAfter.
func (ca *pkiCA) issue(t *testing.T, names []string, notBefore, notAfter time.Time) issued {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(t),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return issued{cert: c, certPEM: pemCert(der), keyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k})}
}

// version returns the leaf as a store version with the given chain.
func (l issued) version(seq int, chainPEM []byte) store.Version {
	return store.Version{
		Seq:       seq,
		Serial:    hex.EncodeToString(l.cert.SerialNumber.Bytes()),
		CertPEM:   l.certPEM,
		ChainPEM:  chainPEM,
		KeyPEM:    l.keyPEM,
		NotBefore: l.cert.NotBefore,
		NotAfter:  l.cert.NotAfter,
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

// tlsServer serves cfg on 127.0.0.1 and records each server-side handshake
// error (nil for a success) in the order the handshakes finish.
type tlsServer struct {
	addr string
	errs chan error
}

func serveTLS(t *testing.T, cfg *tls.Config) *tlsServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &tlsServer{addr: ln.Addr().String(), errs: make(chan error, 1)}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			// One handshake at a time: the client waits for its result.
			_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
			tc := tls.Server(conn, cfg)
			herr := tc.Handshake()
			tc.Close()
			s.errs <- herr
		}
	})
	return s
}

// handshake runs one TLS handshake with server name sni ("" = none) and
// returns the leaf the server sent, the client's error and the server's.
// With roots set the client verifies the chain and the name; without, it
// accepts any certificate.
func (s *tlsServer) handshake(t *testing.T, sni string, roots *x509.CertPool) (leaf *x509.Certificate, clientErr, serverErr error) {
	t.Helper()
	cfg := &tls.Config{ServerName: sni, RootCAs: roots, MinVersion: tls.VersionTLS12}
	if roots == nil {
		cfg.InsecureSkipVerify = true
	}
	conn, err := net.DialTimeout("tcp", s.addr, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	tc := tls.Client(conn, cfg)
	clientErr = tc.Handshake()
	if clientErr == nil {
		leaf = tc.ConnectionState().PeerCertificates[0]
	}
	tc.Close()
	return leaf, clientErr, <-s.errs
}

// TestDB_BinderSource_BadRecordsRefused follows a real bbolt store with a
// binder and writes bad versions of a certificate into it: each is refused by
// Sync and reported, and the binder keeps serving the last good certificate,
// through Serial and through real TLS handshakes.
func TestDB_BinderSource_BadRecordsRefused(t *testing.T) {
	root := newCA(t, nil, "Test Root")
	inter := newCA(t, root, "Test Intermediate")
	otherRoot := newCA(t, nil, "Other Root")
	// Same subject as the real intermediate, another key: only the signature
	// tells them apart.
	otherInter := newCA(t, otherRoot, "Test Intermediate")
	roots := x509.NewCertPool()
	roots.AddCert(root.cert)

	modes := []struct {
		name string
		// roots is Options.Roots.
		roots *x509.CertPool
		// chain returns the ChainPEM stored with a leaf of ca.
		chain func(ca, caRoot *pkiCA) []byte
	}{
		// Full verification to a configured root; the store holds the
		// intermediate only, as an ACME CA sends it.
		{"Roots", roots, func(ca, _ *pkiCA) []byte { return ca.pem }},
		// No configured roots: the binder checks the chain against its own
		// self-signed last certificate.
		{"SelfContained", nil, func(ca, caRoot *pkiCA) []byte {
			return append(append([]byte(nil), ca.pem...), caRoot.pem...)
		}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			testBadRecordsRefused(t, root, inter, otherRoot, otherInter, roots, m.roots, m.chain)
		})
	}
}

func testBadRecordsRefused(t *testing.T, root, inter, otherRoot, otherInter *pkiCA, clientRoots, binderRoots *x509.CertPool,
	chain func(ca, caRoot *pkiCA) []byte) {
	ctx := t.Context()
	now := time.Now()
	db, err := store.Open(filepath.Join(t.TempDir(), "certctl.db"), nil)
	if err != nil {
		t.Fatal(err)
	}

	good := inter.issue(t, []string{"a.example"}, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	goodChain := chain(inter, root)
	rec := &store.Certificate{
		Name:      "a.example",
		Domains:   []string{"a.example"},
		KeyType:   "ec256",
		Directory: "https://ca.example/dir",
	}
	rec.AddVersion(good.version(rec.NextSeq(), goodChain))
	if err := db.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}

	var refused refusalLog
	bd := bindings.New(&bindings.Options{Roots: binderRoots, OnError: refused.add})
	src := certctl.BinderSource(db)
	if err := bd.Sync(ctx, src); err != nil {
		t.Fatalf("Sync of a good record: %v", err)
	}
	goodSerial := hex.EncodeToString(good.cert.SerialNumber.Bytes())
	if got := bd.Serial("a.example"); got != goodSerial {
		t.Fatalf("Serial(a.example) = %q, want %q", got, goodSerial)
	}
	if n := refused.len(); n != 0 {
		t.Fatalf("good record: %d refusals reported: %v", n, refused.since(0))
	}
	srv := serveTLS(t, bd.TLSConfig(bindings.Intermediate))

	// servesGood checks that a.example is still served the good certificate,
	// by lookup and over TLS with full client verification.
	servesGood := func(t *testing.T, want issued) {
		t.Helper()
		wantSerial := hex.EncodeToString(want.cert.SerialNumber.Bytes())
		if got := bd.Serial("a.example"); got != wantSerial {
			t.Errorf("Serial(a.example) = %q, want %q", got, wantSerial)
		}
		leaf, cerr, serr := srv.handshake(t, "a.example", clientRoots)
		if cerr != nil || serr != nil {
			t.Fatalf("handshake for a.example: client %v, server %v", cerr, serr)
		}
		if got := hex.EncodeToString(leaf.SerialNumber.Bytes()); got != wantSerial {
			t.Errorf("handshake for a.example got serial %s, want %s", got, wantSerial)
		}
	}
	servesGood(t, good)

	stranger := newKey(t)
	strangerDER, err := x509.MarshalPKCS8PrivateKey(stranger)
	if err != nil {
		t.Fatal(err)
	}
	strangerPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: strangerDER})
	garbage := make([]byte, 600)
	if _, err := rand.Read(garbage); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name    string
		version func(seq int) store.Version
		want    error
	}{
		{"KeyMismatch", func(seq int) store.Version {
			v := inter.issue(t, []string{"a.example"}, now.Add(-time.Hour), now.Add(90*24*time.Hour)).version(seq, goodChain)
			v.KeyPEM = strangerPEM
			return v
		}, bindings.ErrKeyMismatch},
		{"GarbageCertificateBlock", func(seq int) store.Version {
			v := inter.issue(t, []string{"a.example"}, now.Add(-time.Hour), now.Add(90*24*time.Hour)).version(seq, goodChain)
			v.CertPEM = pemCert(garbage)
			return v
		}, bindings.ErrBadCertificate},
		{"GarbageNoPEMNoChain", func(seq int) store.Version {
			v := inter.issue(t, []string{"a.example"}, now.Add(-time.Hour), now.Add(90*24*time.Hour)).version(seq, nil)
			v.CertPEM = garbage
			return v
		}, bindings.ErrNoCertificate},
		// With the leaf unreadable, the first certificate of the loaded full
		// chain is the intermediate: it is taken for the leaf and refused
		// because the key is not its own.
		{"GarbageNoPEMWithChain", func(seq int) store.Version {
			v := inter.issue(t, []string{"a.example"}, now.Add(-time.Hour), now.Add(90*24*time.Hour)).version(seq, goodChain)
			v.CertPEM = []byte("not a certificate\x00\xff\n")
			return v
		}, bindings.ErrKeyMismatch},
		{"GarbageKey", func(seq int) store.Version {
			v := inter.issue(t, []string{"a.example"}, now.Add(-time.Hour), now.Add(90*24*time.Hour)).version(seq, goodChain)
			v.KeyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: garbage})
			return v
		}, bindings.ErrNoKey},
		{"Expired", func(seq int) store.Version {
			return inter.issue(t, []string{"a.example"}, now.Add(-90*24*time.Hour), now.Add(-time.Hour)).version(seq, goodChain)
		}, bindings.ErrExpired},
		{"NotYetValid", func(seq int) store.Version {
			return inter.issue(t, []string{"a.example"}, now.Add(time.Hour), now.Add(90*24*time.Hour)).version(seq, goodChain)
		}, bindings.ErrNotYetValid},
		{"IntermediateOfAnotherCA", func(seq int) store.Version {
			return inter.issue(t, []string{"a.example"}, now.Add(-time.Hour), now.Add(90*24*time.Hour)).
				version(seq, chain(otherInter, otherRoot))
		}, bindings.ErrBadChain},
		{"SignedByAnotherCA", func(seq int) store.Version {
			// The mirror case: a leaf of the other CA (same intermediate
			// name) stored with this CA's chain.
			return otherInter.issue(t, []string{"a.example"}, now.Add(-time.Hour), now.Add(90*24*time.Hour)).
				version(seq, goodChain)
		}, bindings.ErrBadChain},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := refused.len()
			rec.AddVersion(tc.version(rec.NextSeq()))
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
		rec.AddVersion(inter.issue(t, []string{"b.example"}, now.Add(-time.Hour), now.Add(90*24*time.Hour)).
			version(rec.NextSeq(), goodChain))
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
		leaf, cerr, serr := srv.handshake(t, "", nil)
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
			_, cerr, serr := srv.handshake(t, sni, nil)
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
		renewed := inter.issue(t, []string{"a.example"}, now.Add(-time.Minute), now.Add(90*24*time.Hour))
		rec.AddVersion(renewed.version(rec.NextSeq(), goodChain))
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
