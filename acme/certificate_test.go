package acme

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
	"time"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, cn string) testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return testCA{c, key}
}

func (ca testCA) leaf(t *testing.T, names []string, nb, na time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), DNSNames: names,
		NotBefore: nb, NotAfter: na, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func (ca testCA) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

func TestCertificate_Validate(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, "root")
	other := newTestCA(t, "other")
	good, key := ca.leaf(t, []string{"a.example", "*.b.example"}, now.Add(-time.Minute), now.Add(time.Hour))
	_, otherKey := ca.leaf(t, []string{"a.example"}, now.Add(-time.Minute), now.Add(time.Hour))
	expired, ekey := ca.leaf(t, []string{"a.example"}, now.Add(-2*time.Hour), now.Add(-time.Hour))

	parse := func(cert, chain, key []byte) *Certificate {
		c, err := ParseCertificate(append(append([]byte{}, cert...), chain...), key)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if err := parse(good, ca.pem(), key).Validate([]string{"a.example", "*.b.example", "x.b.example"}, now); err != nil {
		t.Fatalf("good certificate refused: %v", err)
	}
	bad := map[string]struct {
		c     *Certificate
		names []string
	}{
		"key mismatch":  {parse(good, ca.pem(), otherKey), []string{"a.example"}},
		"name missing":  {parse(good, ca.pem(), key), []string{"c.example"}},
		"wildcard only": {parse(good, ca.pem(), key), []string{"*.a.example"}},
		"expired":       {parse(expired, ca.pem(), ekey), []string{"a.example"}},
		"wrong issuer":  {parse(good, other.pem(), key), []string{"a.example"}},
		"no chain":      {parse(good, nil, key), []string{"a.example"}},
		"garbage key":   {parse(good, ca.pem(), []byte("not a key")), []string{"a.example"}},
	}
	for name, b := range bad {
		if err := b.c.Validate(b.names, now); !errors.Is(err, ErrInvalidCertificate) {
			t.Errorf("%s: Validate = %v, want ErrInvalidCertificate", name, err)
		}
	}
	if _, err := ParseCertificate([]byte("garbage"), key); !errors.Is(err, ErrInvalidCertificate) {
		t.Errorf("ParseCertificate(garbage) = %v", err)
	}
}
