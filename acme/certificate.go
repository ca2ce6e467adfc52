package acme

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/go-acme/lego/v4/certcrypto"

	"github.com/certctl/certctl/internal/certpem"
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
	KeyPEM   []byte // the private key; nil when ordered with a CSR
	Leaf     *x509.Certificate
	// CSR is the signing request the certificate was ordered with, if any:
	// the key is held elsewhere and the leaf must carry the CSR's public
	// key.
	CSR      *x509.CertificateRequest
	Chain    []*x509.Certificate
	CertURL  string // where the CA serves it
	Replaces string // ARI certificate ID of the certificate it replaced, if any
	// Timings are where [Client.Obtain]'s time went (zero for a
	// certificate parsed from elsewhere).
	Timings Timings
}

// Serial returns the leaf's serial number in lower-case hex.
func (c *Certificate) Serial() string { return certpem.SerialHex(c.Leaf) }

// SerialHex returns a certificate's serial number in lower-case hex (an even
// number of digits); "" for nil.
func SerialHex(cert *x509.Certificate) string { return certpem.SerialHex(cert) }

// ParseCertificate splits and parses a PEM bundle (leaf first, then issuers;
// blocks of other types are skipped) and its private key.
func ParseCertificate(bundlePEM, keyPEM []byte) (*Certificate, error) {
	certs, err := certpem.ParseChain(bundlePEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidCertificate, err)
	}
	return &Certificate{
		CertPEM:  certpem.EncodeCertificates(certs[0]),
		ChainPEM: certpem.EncodeCertificates(certs[1:]...),
		KeyPEM:   keyPEM,
		Leaf:     certs[0],
		Chain:    certs[1:],
	}, nil
}

// ParsePrivateKey parses a PEM private key (PKCS#1, PKCS#8 or SEC 1).
func ParsePrivateKey(keyPEM []byte) (crypto.Signer, error) {
	k, _, err := certpem.ParsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: private key: %v", ErrInvalidCertificate, err)
	}
	return k, nil
}

// Validate checks c before it may be used: the leaf and key parse, the key
// matches the leaf (for a certificate ordered with a CSR and no key: the
// leaf carries the CSR's public key), the leaf covers every one of domains, the chain verifies
// from the leaf up to the last issuer given, and the leaf is valid at now.
func (c *Certificate) Validate(domains []string, now time.Time) error {
	if c.Leaf == nil {
		return fmt.Errorf("%w: no leaf", ErrInvalidCertificate)
	}
	if c.KeyPEM == nil && c.CSR != nil {
		pub, ok := c.CSR.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(c.Leaf.PublicKey) {
			return fmt.Errorf("%w: the leaf does not carry the CSR's public key", ErrInvalidCertificate)
		}
	} else {
		key, err := ParsePrivateKey(c.KeyPEM)
		if err != nil {
			return err
		}
		if err := certpem.KeyMatches(key, c.Leaf); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidCertificate, err)
		}
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
	_, err := c.Leaf.Verify(x509.VerifyOptions{
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
