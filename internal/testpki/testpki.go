package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"time"
)

// TB is the part of testing.TB that this package uses.
type TB interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
}

// CA is a certificate authority made in the test.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewKey returns a new P-256 key.
func NewKey(tb TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// NewRSAKey returns a new RSA-2048 key.
func NewRSAKey(tb TB) *rsa.PrivateKey {
	tb.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// serial returns a random positive 127-bit serial number.
func serial(tb TB) *big.Int {
	tb.Helper()
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		tb.Fatal(err)
	}
	return s.Add(s, big.NewInt(1))
}

// NewRoot returns a self-signed root CA valid from a day ago for a year.
func NewRoot(tb TB, cn string) *CA {
	tb.Helper()
	return newCA(tb, nil, cn, time.Time{}, time.Time{})
}

// SubCA returns an intermediate CA signed by ca, valid from notBefore to
// notAfter (zero: from a day ago, for a year).
func (ca *CA) SubCA(tb TB, cn string, notBefore, notAfter time.Time) *CA {
	tb.Helper()
	return newCA(tb, ca, cn, notBefore, notAfter)
}

func newCA(tb TB, parent *CA, cn string, notBefore, notAfter time.Time) *CA {
	tb.Helper()
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-24 * time.Hour)
	}
	if notAfter.IsZero() {
		notAfter = time.Now().Add(365 * 24 * time.Hour)
	}
	key := NewKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(tb),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	issuer, signer := tmpl, crypto.Signer(key)
	if parent != nil {
		issuer, signer = parent.Cert, parent.Key
	}
	return &CA{Cert: create(tb, tmpl, issuer, key.Public(), signer), Key: key}
}

func create(tb TB, tmpl, issuer *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	tb.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, pub, signer)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// PEM returns the CA's certificate in PEM.
func (ca *CA) PEM() []byte { return encodeCerts(ca.Cert.Raw) }

// Pool returns a pool holding only the CA's certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// LeafSpec describes a leaf to issue; zero fields take defaults.
type LeafSpec struct {
	Names     []string
	Serial    *big.Int      // nil: random
	NotBefore time.Time     // zero: an hour ago
	NotAfter  time.Time     // zero: in two days
	Key       crypto.Signer // nil: a new P-256 key
	Client    bool          // client-auth usage instead of server-auth
}

// Leaf is an issued certificate with its key and the chain it came with.
type Leaf struct {
	Cert  *x509.Certificate
	Key   crypto.Signer
	Chain [][]byte // DER: the leaf, then the CAs given to Issue
}

// Issue signs a leaf for s; chain lists the CAs that follow the leaf in
// Leaf.Chain (normally ca itself when ca is an intermediate).
func (ca *CA) Issue(tb TB, s LeafSpec, chain ...*CA) *Leaf {
	tb.Helper()
	if s.Serial == nil {
		s.Serial = serial(tb)
	}
	if s.NotBefore.IsZero() {
		s.NotBefore = time.Now().Add(-time.Hour)
	}
	if s.NotAfter.IsZero() {
		s.NotAfter = time.Now().Add(48 * time.Hour)
	}
	if s.Key == nil {
		s.Key = NewKey(tb)
	}
	eku := x509.ExtKeyUsageServerAuth
	if s.Client {
		eku = x509.ExtKeyUsageClientAuth
	}
	cn := "leaf"
	if len(s.Names) > 0 {
		cn = s.Names[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: s.Serial,
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     s.Names,
		NotBefore:    s.NotBefore,
		NotAfter:     s.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{eku},
	}
	if _, ok := s.Key.(*rsa.PrivateKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	l := &Leaf{Cert: create(tb, tmpl, ca.Cert, s.Key.Public(), ca.Key), Key: s.Key}
	l.Chain = [][]byte{l.Cert.Raw}
	for _, c := range chain {
		l.Chain = append(l.Chain, c.Cert.Raw)
	}
	return l
}

// CertPEM returns the leaf alone in PEM.
func (l *Leaf) CertPEM() []byte { return encodeCerts(l.Chain[0]) }

// ChainPEM returns the CAs that follow the leaf, in PEM.
func (l *Leaf) ChainPEM() []byte { return encodeCerts(l.Chain[1:]...) }

// FullchainPEM returns the leaf followed by its chain, in PEM.
func (l *Leaf) FullchainPEM() []byte { return encodeCerts(l.Chain...) }

// KeyPEM returns the private key in PKCS#8 PEM.
func (l *Leaf) KeyPEM(tb TB) []byte {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(l.Key)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// TLS returns the leaf as a tls.Certificate.
func (l *Leaf) TLS() tls.Certificate {
	return tls.Certificate{Certificate: l.Chain, PrivateKey: l.Key, Leaf: l.Cert}
}

// Serial returns the leaf's serial in lower-case hex with even digits, as
// certctl's store and binder show it.
func (l *Leaf) Serial() string { return hex.EncodeToString(l.Cert.SerialNumber.Bytes()) }

func encodeCerts(ders ...[]byte) []byte {
	var out []byte
	for _, d := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	return out
}
