package certpem

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/certctl/certctl/internal/testpki"
)

// material is a leaf signed by a self-signed CA, with the leaf's key.
type material struct {
	leaf, ca *x509.Certificate
	key      crypto.Signer
}

func newMaterial(t *testing.T, key crypto.Signer) material {
	t.Helper()
	ca := testpki.NewRoot(t, "certpem CA")
	l := ca.Issue(t, testpki.LeafSpec{Names: []string{"a.example"}, Key: key})
	return material{leaf: l.Cert, ca: ca.Cert, key: key}
}

func block(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func TestParseChain_Forms(t *testing.T) {
	m := newMaterial(t, testpki.NewKey(t))
	leafPEM, caPEM := EncodeCertificates(m.leaf), EncodeCertificates(m.ca)
	junk := block("CERTIFICATE", []byte("junk"))
	tests := []struct {
		name    string
		leafPEM []byte
		more    [][]byte
		want    []*x509.Certificate
		wantErr error
	}{
		{"leaf alone", leafPEM, nil, []*x509.Certificate{m.leaf}, nil},
		{"bundle", cat(leafPEM, caPEM), nil, []*x509.Certificate{m.leaf, m.ca}, nil},
		{"leaf then chain", leafPEM, [][]byte{caPEM}, []*x509.Certificate{m.leaf, m.ca}, nil},
		{"other blocks skipped", cat(block("EC PRIVATE KEY", []byte{1}), leafPEM), [][]byte{cat([]byte("text\n"), caPEM)}, []*x509.Certificate{m.leaf, m.ca}, nil},
		{"garbage chain", leafPEM, [][]byte{[]byte("garbage")}, []*x509.Certificate{m.leaf}, nil},
		{"empty", nil, nil, nil, ErrNoCertificate},
		{"garbage", []byte("garbage"), nil, nil, ErrNoCertificate},
		{"leaf only in chain", nil, [][]byte{leafPEM}, nil, ErrNoCertificate},
		{"malformed leaf", junk, nil, nil, ErrBadCertificate},
		{"malformed issuer", leafPEM, [][]byte{junk}, nil, ErrBadCertificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseChain(tt.leafPEM, tt.more...)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("ParseChain = %v, want %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ParseChain returned %d certificates, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !got[i].Equal(tt.want[i]) {
					t.Errorf("certificate %d differs", i)
				}
			}
		})
	}
	if _, err := ParseChain(leafPEM, junk); err == nil || !strings.HasPrefix(err.Error(), "parsing certificate 1: ") {
		t.Errorf("error %v does not name certificate 1", err)
	}
}

func TestParsePrivateKey_Encodings(t *testing.T) {
	ec := testpki.NewKey(t)
	rsaKey := testpki.NewRSAKey(t)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	sec1, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	m := newMaterial(t, ec)
	tests := []struct {
		name      string
		keyPEM    []byte
		want      crypto.Signer
		wantBlock string
		wantErr   error
	}{
		{"PKCS #8 EC", block("PRIVATE KEY", pkcs8(ec)), ec, "PRIVATE KEY", nil},
		{"SEC 1", block("EC PRIVATE KEY", sec1), ec, "EC PRIVATE KEY", nil},
		{"PKCS #1", block("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), rsaKey, "RSA PRIVATE KEY", nil},
		{"PKCS #8 RSA", block("PRIVATE KEY", pkcs8(rsaKey)), rsaKey, "PRIVATE KEY", nil},
		{"PKCS #8 Ed25519", block("PRIVATE KEY", pkcs8(edKey)), edKey, "PRIVATE KEY", nil},
		{"mislabelled", block("RSA PRIVATE KEY", pkcs8(ec)), ec, "RSA PRIVATE KEY", nil},
		{"after EC PARAMETERS", cat(block("EC PARAMETERS", []byte{6, 8}), block("EC PRIVATE KEY", sec1)), ec, "EC PRIVATE KEY", nil},
		{"empty", nil, nil, "", ErrNoKey},
		{"garbage", []byte("not a key"), nil, "", ErrNoKey},
		{"certificate only", EncodeCertificates(m.leaf), nil, "", ErrNoKey},
		{"corrupt", block("PRIVATE KEY", []byte("AAAA")), nil, "", ErrNoKey},
		{"encrypted", block("ENCRYPTED PRIVATE KEY", []byte{1}), nil, "", ErrNoKey},
		{"X25519 cannot sign", block("PRIVATE KEY", pkcs8(x25519)), nil, "", ErrNoKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, b, err := ParsePrivateKey(tt.keyPEM)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("ParsePrivateKey = %v, want %v", err, tt.wantErr)
			}
			if tt.want == nil {
				if got != nil || b != nil {
					t.Fatalf("ParsePrivateKey = %T, %v with an error", got, b)
				}
				return
			}
			if !got.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(tt.want.Public()) {
				t.Errorf("ParsePrivateKey returned another key")
			}
			if b.Type != tt.wantBlock {
				t.Errorf("block type %q, want %q", b.Type, tt.wantBlock)
			}
		})
	}
}

func TestKeyMatches(t *testing.T) {
	ec := testpki.NewKey(t)
	rsaKey := testpki.NewRSAKey(t)
	m := newMaterial(t, ec)
	tests := []struct {
		name string
		key  crypto.Signer
		want error
	}{
		{"own key", ec, nil},
		{"other key", testpki.NewKey(t), ErrKeyMismatch},
		{"other type", rsaKey, ErrKeyMismatch},
	}
	for _, tt := range tests {
		if err := KeyMatches(tt.key, m.leaf); err != tt.want {
			t.Errorf("%s: KeyMatches = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestEncodeCertificatesAndFullchain_RoundTrip(t *testing.T) {
	m := newMaterial(t, testpki.NewKey(t))
	leafPEM, caPEM := EncodeCertificates(m.leaf), EncodeCertificates(m.ca)
	if got := EncodeCertificates(); len(got) != 0 {
		t.Errorf("EncodeCertificates() = %q, want empty", got)
	}
	if !bytes.Equal(EncodeCertificates(m.leaf, m.ca), cat(leafPEM, caPEM)) {
		t.Error("EncodeCertificates(leaf, ca) is not the two blocks in order")
	}
	full := Fullchain(leafPEM, caPEM)
	if !bytes.Equal(full, cat(leafPEM, caPEM)) {
		t.Error("Fullchain is not cert then chain")
	}
	full[0] = 'X'
	if leafPEM[0] == 'X' {
		t.Error("Fullchain aliases its input")
	}
	for _, tt := range []struct{ cert, chain, want string }{
		{"", "", ""},
		{"C\n", "", "C\n"},
		{"C", "", "C"},
		{"C", "I\n", "C\nI\n"},
		{"", "I\n", "I\n"},
	} {
		if got := string(Fullchain([]byte(tt.cert), []byte(tt.chain))); got != tt.want {
			t.Errorf("Fullchain(%q, %q) = %q, want %q", tt.cert, tt.chain, got, tt.want)
		}
	}
	chain, err := ParseChain(cat(leafPEM, caPEM))
	if err != nil || len(chain) != 2 || !chain[0].Equal(m.leaf) || !chain[1].Equal(m.ca) {
		t.Errorf("round trip: %d certificates, %v", len(chain), err)
	}
}

func TestSerialHex(t *testing.T) {
	tests := []struct {
		c    *x509.Certificate
		want string
	}{
		{nil, ""},
		{&x509.Certificate{}, ""},
		{&x509.Certificate{SerialNumber: big.NewInt(1)}, "01"},
		{&x509.Certificate{SerialNumber: big.NewInt(0xabc)}, "0abc"},
		{&x509.Certificate{SerialNumber: big.NewInt(0x1234)}, "1234"},
	}
	for _, tt := range tests {
		if got := SerialHex(tt.c); got != tt.want {
			t.Errorf("SerialHex(%v) = %q, want %q", tt.c, got, tt.want)
		}
	}
}

func TestCheckName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"a.example", true},
		{"_.example.com", true},
		{"_acme.x-y", true},
		{"a-", true},
		{"été", true},
		{strings.Repeat("a", MaxNameLen), true},
		{"", false},
		{".", false},
		{"..", false},
		{"..a", false},
		{"a..b", false},
		{"/", false},
		{"a/b", false},
		{"../../etc/passwd", false},
		{`a\b`, false},
		{"a\x00b", false},
		{"a b", false},
		{"a\tb", false},
		{"a\nb", false},
		{"a\x7fb", false},
		{"-rf", false},
		{strings.Repeat("a", MaxNameLen+1), false},
	}
	for _, tt := range tests {
		err := CheckName(tt.name)
		if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidName)) {
			t.Errorf("CheckName(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
	if err := CheckName("a/b"); err == nil || !strings.HasPrefix(err.Error(), `"a/b": invalid certificate name`) {
		t.Errorf("error %v does not start with the name", err)
	}
}
