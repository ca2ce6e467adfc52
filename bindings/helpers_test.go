package bindings

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testCA is a CA made in-test: a root (self-signed) or an intermediate.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var serialCounter atomic.Int64

func nextSerial() *big.Int { return big.NewInt(0x1000 + serialCounter.Add(1)) }

func mustECKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func newRootCA(tb testing.TB, cn string) *testCA {
	tb.Helper()
	key := mustECKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		tb.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key}
}

// subCA issues an intermediate CA certificate valid from notBefore to notAfter
// (zero = an hour ago .. in ten days).
func (ca *testCA) subCA(tb testing.TB, cn string, notBefore, notAfter time.Time) *testCA {
	tb.Helper()
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-time.Hour)
	}
	if notAfter.IsZero() {
		notAfter = time.Now().Add(10 * 24 * time.Hour)
	}
	key := mustECKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key}
}

// leafSpec describes a leaf to issue; zero fields take defaults.
type leafSpec struct {
	names     []string
	serial    *big.Int      // nil = next serial
	notBefore time.Time     // zero = an hour ago
	notAfter  time.Time     // zero = in two days
	key       crypto.Signer // nil = a new P-256 key
	client    bool          // client-auth usage instead of server-auth
}

// issued is a leaf with its key and the chain it came with.
type issued struct {
	leaf  *x509.Certificate
	key   crypto.Signer
	chain [][]byte // DER: leaf, then the issuing CAs given to issue
}

// issue signs a leaf; chain lists the CAs to append after the leaf (normally
// ca itself when ca is an intermediate).
func (ca *testCA) issue(tb testing.TB, s leafSpec, chain ...*testCA) *issued {
	tb.Helper()
	if s.serial == nil {
		s.serial = nextSerial()
	}
	if s.notBefore.IsZero() {
		s.notBefore = time.Now().Add(-time.Hour)
	}
	if s.notAfter.IsZero() {
		s.notAfter = time.Now().Add(48 * time.Hour)
	}
	if s.key == nil {
		s.key = mustECKey(tb)
	}
	eku := x509.ExtKeyUsageServerAuth
	if s.client {
		eku = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: s.serial,
		Subject:      pkix.Name{CommonName: "leaf"},
		DNSNames:     s.names,
		NotBefore:    s.notBefore,
		NotAfter:     s.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{eku},
	}
	if _, ok := s.key.(*rsa.PrivateKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, s.key.Public(), ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	out := &issued{leaf: leaf, key: s.key, chain: [][]byte{der}}
	for _, c := range chain {
		out.chain = append(out.chain, c.cert.Raw)
	}
	return out
}

func (i *issued) certPEM() []byte {
	var out []byte
	for _, der := range i.chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return out
}

func (i *issued) keyPEM(tb testing.TB) []byte {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(i.key)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func (i *issued) tlsCert() tls.Certificate {
	return tls.Certificate{Certificate: i.chain, PrivateKey: i.key, Leaf: i.leaf}
}

func (i *issued) serial() string { return serialHex(i.leaf) }

func (ca *testCA) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// testPKI is a root and an intermediate shared by the tests of this package.
type testPKI struct {
	root  *testCA
	inter *testCA
}

var (
	pkiOnce   sync.Once
	sharedPKI testPKI
)

func pki(tb testing.TB) testPKI {
	pkiOnce.Do(func() {
		sharedPKI.root = newRootCA(tb, "certctl test root")
		sharedPKI.inter = sharedPKI.root.subCA(tb, "certctl test intermediate", time.Time{}, time.Time{})
	})
	return sharedPKI
}

// leaf issues a leaf from the shared intermediate with the chain
// leaf, intermediate.
func leaf(tb testing.TB, s leafSpec) *issued {
	tb.Helper()
	p := pki(tb)
	return p.inter.issue(tb, s, p.inter)
}

// mustSet installs i under name or fails the test.
func mustSet(tb testing.TB, b *Binder, name string, i *issued, names []string) {
	tb.Helper()
	if err := b.Set(name, i.certPEM(), i.keyPEM(tb), names); err != nil {
		tb.Fatalf("Set(%q): %v", name, err)
	}
}

// tlsServer accepts TLS connections on 127.0.0.1 with cfg; each accepted
// connection completes its handshake, sends its outcome on results, answers
// one byte read with the same byte, and is closed.
type tlsServer struct {
	ln      net.Listener
	results chan error
}

func startTLSServer(tb testing.TB, cfg *tls.Config) *tlsServer {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &tlsServer{ln: ln, results: make(chan error, 64)}
	var wg sync.WaitGroup
	tb.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				tc := tls.Server(c, cfg)
				err := tc.Handshake()
				select {
				case s.results <- err:
				default:
				}
				if err != nil {
					return
				}
				var buf [1]byte
				if _, err := tc.Read(buf[:]); err == nil {
					tc.Write(buf[:])
				}
			})
		}
	})
	return s
}

func (s *tlsServer) addr() string { return s.ln.Addr().String() }

// dial does a handshake and a one-byte echo, returning the connection state
// and the first error (handshake or echo).
func (s *tlsServer) dial(cfg *tls.Config) (tls.ConnectionState, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", s.addr(), cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	cs := c.ConnectionState()
	if _, err := c.Write([]byte{'x'}); err != nil {
		return cs, err
	}
	var buf [1]byte
	if _, err := c.Read(buf[:]); err != nil {
		return cs, err
	}
	return c.ConnectionState(), nil
}

// serverResult returns the outcome of the next server-side handshake.
func (s *tlsServer) serverResult(tb testing.TB) error {
	tb.Helper()
	select {
	case err := <-s.results:
		return err
	case <-time.After(10 * time.Second):
		tb.Fatal("no server-side handshake result")
		return nil
	}
}
