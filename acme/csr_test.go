package acme

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"slices"
	"testing"
	"time"
)

func makeCSR(t *testing.T, tmpl *x509.CertificateRequest) (der []byte, key *ecdsa.PrivateKey) {
	t.Helper()
	key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

func TestParseCSR(t *testing.T) {
	der, _ := makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a.example"},
		DNSNames: []string{"a.example", "b.example"}, IPAddresses: []net.IP{net.ParseIP("192.0.2.10"), net.ParseIP("2001:db8::1")}})
	want := []string{"a.example", "b.example", "192.0.2.10", "2001:db8::1"}
	for name, in := range map[string][]byte{
		"der": der,
		"pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
		"old": pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: der}),
	} {
		csr, names, err := ParseCSR(in)
		if err != nil || !slices.Equal(names, want) || csr == nil {
			t.Errorf("%s: ParseCSR = %q, %v; want %q", name, names, err, want)
		}
	}

	tampered := slices.Clone(der)
	tampered[len(tampered)-5] ^= 0xff // in the signature
	noNames, _ := makeCSR(t, &x509.CertificateRequest{})
	upper, _ := makeCSR(t, &x509.CertificateRequest{DNSNames: []string{"A.example"}})
	email, _ := makeCSR(t, &x509.CertificateRequest{DNSNames: []string{"a.example"}, EmailAddresses: []string{"x@a.example"}})
	uri, _ := makeCSR(t, &x509.CertificateRequest{DNSNames: []string{"a.example"}, URIs: []*url.URL{{Scheme: "spiffe", Host: "a"}}})
	for name, in := range map[string][]byte{
		"garbage":   []byte("not a csr"),
		"cert pem":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"tampered":  tampered,
		"no names":  noNames,
		"uppercase": upper,
		"email":     email,
		"uri":       uri,
	} {
		if _, _, err := ParseCSR(in); !errors.Is(err, ErrBadCSR) {
			t.Errorf("%s: ParseCSR error = %v, want ErrBadCSR", name, err)
		}
	}
}

// A certificate ordered with a CSR has no key: it validates when its leaf
// carries the CSR's public key, and not otherwise.
func TestCertificate_Validate_CSR(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, "root")
	certPEM, keyPEM := ca.leaf(t, []string{"a.example"}, now.Add(-time.Minute), now.Add(time.Hour))
	key, err := ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"a.example"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, _, err := ParseCSR(der)
	if err != nil {
		t.Fatal(err)
	}
	otherDER, _ := makeCSR(t, &x509.CertificateRequest{DNSNames: []string{"a.example"}})
	other, _, _ := ParseCSR(otherDER)
	c, err := ParseCertificate(append(certPEM, ca.pem()...), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.CSR = csr
	if err := c.Validate([]string{"a.example"}, now); err != nil {
		t.Fatalf("certificate for the CSR's key refused: %v", err)
	}
	c.CSR = other
	if err := c.Validate([]string{"a.example"}, now); !errors.Is(err, ErrInvalidCertificate) {
		t.Fatalf("certificate for another key: Validate = %v, want ErrInvalidCertificate", err)
	}
	c.CSR = nil
	if err := c.Validate([]string{"a.example"}, now); !errors.Is(err, ErrInvalidCertificate) {
		t.Fatalf("no key and no CSR: Validate = %v, want ErrInvalidCertificate", err)
	}
}

func TestKeyTypeOf(t *testing.T) {
	for kt, curve := range map[KeyType]elliptic.Curve{EC256: elliptic.P256(), EC384: elliptic.P384()} {
		k, _ := ecdsa.GenerateKey(curve, rand.Reader)
		if got, err := KeyTypeOf(k); got != kt || err != nil {
			t.Errorf("KeyTypeOf(%s key) = %s, %v", kt, got, err)
		}
		if got, err := KeyTypeOf(k.Public()); got != kt || err != nil {
			t.Errorf("KeyTypeOf(%s public key) = %s, %v", kt, got, err)
		}
	}
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if _, err := KeyTypeOf(p521); !errors.Is(err, ErrBadKeyType) {
		t.Errorf("KeyTypeOf(P-521) = %v, want ErrBadKeyType", err)
	}
}
