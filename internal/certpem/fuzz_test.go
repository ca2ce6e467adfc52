package certpem

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

// fuzzSeeds returns a certificate and its key in PEM, for seeding.
func fuzzSeeds(f *testing.F) (certPEM, keyPEM []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "fuzz.example"},
		DNSNames: []string{"fuzz.example"}, NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<32, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		f.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		f.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// FuzzParseChain checks that ParseChain never panics, returns at least the
// leaf on success, and that what it returns encodes and parses back to the
// same certificates.
func FuzzParseChain(f *testing.F) {
	cert, _ := fuzzSeeds(f)
	f.Add(cert, []byte(nil))
	f.Add(cert, cert)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte("junk"))
	f.Add(append([]byte("-----BEGIN X-----\n\n-----END X-----\n"), cert...), []byte{})
	f.Fuzz(func(t *testing.T, leafPEM, more []byte) {
		certs, err := ParseChain(leafPEM, more)
		if err != nil {
			if certs != nil {
				t.Fatal("certificates with an error")
			}
			return
		}
		if len(certs) == 0 {
			t.Fatal("no certificate and no error")
		}
		again, err := ParseChain(EncodeCertificates(certs...))
		if err != nil || len(again) != len(certs) {
			t.Fatalf("re-encoded chain: %d certificates, %v; want %d", len(again), err, len(certs))
		}
		for i := range certs {
			if !again[i].Equal(certs[i]) {
				t.Fatalf("certificate %d changed when re-encoded", i)
			}
		}
		if s := SerialHex(certs[0]); s == "" {
			t.Fatal("empty serial")
		}
	})
}

// FuzzParsePrivateKey checks that ParsePrivateKey never panics and that a
// key it returns can give its public half, comes with the block it was read
// from, and parses again from that block alone.
func FuzzParsePrivateKey(f *testing.F) {
	cert, key := fuzzSeeds(f)
	f.Add(key)
	f.Add(append(cert, key...))
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, keyPEM []byte) {
		k, b, err := ParsePrivateKey(keyPEM)
		if err != nil {
			if k != nil || b != nil {
				t.Fatal("a key with an error")
			}
			return
		}
		if k == nil || b == nil || k.Public() == nil {
			t.Fatalf("key %T, block %v", k, b)
		}
		k2, b2, err := ParsePrivateKey(pem.EncodeToMemory(b))
		if err != nil || !bytes.Equal(b2.Bytes, b.Bytes) {
			t.Fatalf("the returned block does not parse again: %v", err)
		}
		pub, ok := k.Public().(interface{ Equal(crypto.PublicKey) bool })
		if ok && !pub.Equal(k2.Public()) {
			t.Fatal("the key read again differs")
		}
	})
}
