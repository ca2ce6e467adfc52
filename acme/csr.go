package acme

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
)

// ParseCSR parses a certificate signing request in PEM ("CERTIFICATE
// REQUEST", or the older "NEW CERTIFICATE REQUEST") or DER, checks its
// signature and returns it with the names it asks for: its common name
// first when it has one, then its DNS and IP subject alternative names, in
// the canonical form of [NormalizeDomains]. A name not already in that form
// is refused, since the CA is asked for the CSR's names as they are.
func ParseCSR(data []byte) (*x509.CertificateRequest, []string, error) {
	der := data
	if blk, _ := pem.Decode(data); blk != nil {
		if blk.Type != "CERTIFICATE REQUEST" && blk.Type != "NEW CERTIFICATE REQUEST" {
			return nil, nil, fmt.Errorf("%w: PEM block %q, want CERTIFICATE REQUEST", ErrBadCSR, blk.Type)
		}
		der = blk.Bytes
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, nil, fmt.Errorf("%w: signature: %v", ErrBadCSR, err)
	}
	var given []string
	if cn := csr.Subject.CommonName; cn != "" {
		given = append(given, cn)
	}
	given = append(given, csr.DNSNames...)
	for _, ip := range csr.IPAddresses {
		given = append(given, ip.String())
	}
	if len(given) == 0 {
		return nil, nil, fmt.Errorf("%w: it names no domain or IP address", ErrBadCSR)
	}
	if len(csr.EmailAddresses) > 0 || len(csr.URIs) > 0 {
		return nil, nil, fmt.Errorf("%w: email or URI names cannot be certified by an ACME CA", ErrBadCSR)
	}
	names, err := NormalizeDomains(given)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadCSR, err)
	}
	for _, n := range given {
		if !slices.Contains(names, n) {
			return nil, nil, fmt.Errorf("%w: name %q is not in canonical form (lower case, punycode, no trailing dot)", ErrBadCSR, n)
		}
	}
	return csr, names, nil
}

// KeyTypeOf returns the [KeyType] of a public or private key; keys of other
// algorithms or sizes are an error.
func KeyTypeOf(key any) (KeyType, error) {
	if s, ok := key.(crypto.Signer); ok {
		key = s.Public()
	}
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return EC256, nil
		case elliptic.P384():
			return EC384, nil
		}
		return "", fmt.Errorf("%w: ECDSA curve %s", ErrBadKeyType, k.Curve.Params().Name)
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 2048:
			return RSA2048, nil
		case 4096:
			return RSA4096, nil
		}
		return "", fmt.Errorf("%w: RSA key of %d bits", ErrBadKeyType, k.N.BitLen())
	}
	return "", fmt.Errorf("%w: key of type %T", ErrBadKeyType, key)
}
