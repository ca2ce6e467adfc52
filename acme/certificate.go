package acme

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/go-acme/lego/v4/certcrypto"
)

// KeyType names a private key algorithm and size.
type KeyType string

// The key types certctl issues with. EC256 is the default.
const (
	EC256   KeyType = "ec256"
	EC384   KeyType = "ec384"
	RSA2048 KeyType = "rsa2048"
	RSA4096 KeyType = "rsa4096"
)

// ParseKeyType checks a key type name; "" means [EC256].
func ParseKeyType(s string) (KeyType, error) {
	switch KeyType(s) {
	case "":
		return EC256, nil
	case EC256, EC384, RSA2048, RSA4096:
		return KeyType(s), nil
	}
	return "", fmt.Errorf("%q: %w (want ec256, ec384, rsa2048 or rsa4096)", s, ErrBadKeyType)
}

func (k KeyType) lego() certcrypto.KeyType {
	switch k {
	case EC384:
		return certcrypto.EC384
	case RSA2048:
		return certcrypto.RSA2048
	case RSA4096:
		return certcrypto.RSA4096
	default:
		return certcrypto.EC256
	}
}

// Certificate is an issued certificate with its private key, in PEM and
// parsed form.
type Certificate struct {
	CertPEM  []byte // the leaf alone
	ChainPEM []byte // the issuers, leaf excluded
	KeyPEM   []byte // the private key
	Leaf     *x509.Certificate
	Chain    []*x509.Certificate
	CertURL  string // where the CA serves it
	Replaces string // ARI certificate ID of the certificate it replaced, if any
}

// Serial returns the leaf's serial number in lower-case hex.
func (c *Certificate) Serial() string { return SerialHex(c.Leaf) }

// SerialHex returns a certificate's serial number in lower-case hex.
func SerialHex(cert *x509.Certificate) string {
	if cert == nil || cert.SerialNumber == nil {
		return ""
	}
	return hex.EncodeToString(cert.SerialNumber.Bytes())
}

// ParseCertificate splits and parses a PEM bundle (leaf first, then issuers)
// and its private key.
func ParseCertificate(bundlePEM, keyPEM []byte) (*Certificate, error) {
	var certs []*x509.Certificate
	var ders [][]byte
	rest := bundlePEM
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: parsing certificate: %v", ErrInvalidCertificate, err)
		}
		certs = append(certs, c)
		ders = append(ders, b.Bytes)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: no PEM certificate found", ErrInvalidCertificate)
	}
	out := &Certificate{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ders[0]}),
		KeyPEM:  keyPEM,
		Leaf:    certs[0],
		Chain:   certs[1:],
	}
	var chain bytes.Buffer
	for _, d := range ders[1:] {
		_ = pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: d})
	}
	out.ChainPEM = chain.Bytes()
	return out, nil
}

// ParsePrivateKey parses a PEM private key (PKCS#1, PKCS#8 or SEC 1).
func ParsePrivateKey(keyPEM []byte) (crypto.Signer, error) {
	k, err := certcrypto.ParsePEMPrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: private key: %v", ErrInvalidCertificate, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: private key of type %T cannot sign", ErrInvalidCertificate, k)
	}
	return s, nil
}

// Validate checks c before it may be used: the leaf and key parse, the key
// matches the leaf, the leaf covers every one of domains, the chain verifies
// from the leaf up to the last issuer given, and the leaf is valid at now.
func (c *Certificate) Validate(domains []string, now time.Time) error {
	if c.Leaf == nil {
		return fmt.Errorf("%w: no leaf", ErrInvalidCertificate)
	}
	key, err := ParsePrivateKey(c.KeyPEM)
	if err != nil {
		return err
	}
	if !publicKeysEqual(key.Public(), c.Leaf.PublicKey) {
		return fmt.Errorf("%w: private key does not match the certificate", ErrInvalidCertificate)
	}
	for _, d := range domains {
		if !covers(c.Leaf, d) {
			return fmt.Errorf("%w: does not cover %s", ErrInvalidCertificate, d)
		}
	}
	if now.Before(c.Leaf.NotBefore) || !now.Before(c.Leaf.NotAfter) {
		return fmt.Errorf("%w: not valid now (valid %s to %s)", ErrInvalidCertificate,
			c.Leaf.NotBefore.UTC().Format(time.RFC3339), c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if len(c.Chain) == 0 {
		return fmt.Errorf("%w: no issuer certificate in the chain", ErrInvalidCertificate)
	}
	roots := x509.NewCertPool()
	inter := x509.NewCertPool()
	roots.AddCert(c.Chain[len(c.Chain)-1])
	for _, ic := range c.Chain[:len(c.Chain)-1] {
		inter.AddCert(ic)
	}
	_, err = c.Leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return fmt.Errorf("%w: chain does not verify: %v", ErrInvalidCertificate, err)
	}
	return nil
}

// covers reports whether leaf is valid for name, wildcards included. A
// wildcard name must appear as such in the certificate.
func covers(leaf *x509.Certificate, name string) bool {
	for _, n := range leaf.DNSNames {
		if n == name {
			return true
		}
	}
	if len(name) > 2 && name[:2] == "*." {
		return false
	}
	return leaf.VerifyHostname(name) == nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	switch k := a.(type) {
	case *ecdsa.PublicKey:
		return k.Equal(b)
	case *rsa.PublicKey:
		return k.Equal(b)
	case ed25519.PublicKey:
		return k.Equal(b)
	}
	return false
}
