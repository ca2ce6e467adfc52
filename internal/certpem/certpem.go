package certpem

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// MaxNameLen is the longest certificate name [CheckName] accepts, in bytes
// (a file name limit).
const MaxNameLen = 255

// ParseChain parses the CERTIFICATE blocks of leafPEM and then of each of
// more, in order, skipping blocks of other types: the leaf is the first
// certificate of leafPEM, its issuers follow. leafPEM must hold a
// certificate ([ErrNoCertificate]); a block that does not parse gives an
// error matching [ErrBadCertificate] that says which one.
func ParseChain(leafPEM []byte, more ...[]byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for i, in := range append([][]byte{leafPEM}, more...) {
		for rest := in; ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parsing certificate %d: %w: %v", len(certs), ErrBadCertificate, err)
			}
			certs = append(certs, c)
		}
		if i == 0 && len(certs) == 0 {
			return nil, ErrNoCertificate
		}
	}
	return certs, nil
}

// ParsePrivateKey parses the first block of keyPEM whose type is "PRIVATE
// KEY" or ends in " PRIVATE KEY", skipping others, as crypto/tls does: as
// PKCS #1, PKCS #8 or SEC 1, whatever its label says. It returns the key and
// its block. The key must be RSA, ECDSA or Ed25519; anything else, an
// encrypted key included, gives an error matching [ErrNoKey].
func ParsePrivateKey(keyPEM []byte) (crypto.Signer, *pem.Block, error) {
	for rest := keyPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return nil, nil, ErrNoKey
		}
		if b.Type != "PRIVATE KEY" && !strings.HasSuffix(b.Type, " PRIVATE KEY") {
			continue
		}
		k, err := parseKeyDER(b.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s block: %v", ErrNoKey, b.Type, err)
		}
		return k, b, nil
	}
}

// parseKeyDER tries each encoding of a private key in turn, like crypto/tls.
func parseKeyDER(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("not PKCS #1, PKCS #8 or SEC 1")
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%T cannot sign", k)
	}
	return s, nil
}

// KeyMatches returns nil when key is the private half of leaf's public key,
// else [ErrKeyMismatch].
func KeyMatches(key crypto.Signer, leaf *x509.Certificate) error {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return ErrKeyMismatch
	}
	return nil
}

// EncodeCertificates returns certs as consecutive CERTIFICATE blocks; no
// certificate gives an empty result.
func EncodeCertificates(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// Fullchain returns certPEM followed by chainPEM in a new slice, with a
// newline between them when certPEM lacks its final one: the content of
// fullchain.pem.
func Fullchain(certPEM, chainPEM []byte) []byte {
	full := make([]byte, 0, len(certPEM)+1+len(chainPEM))
	full = append(full, certPEM...)
	if len(full) > 0 && full[len(full)-1] != '\n' && len(chainPEM) > 0 {
		full = append(full, '\n')
	}
	return append(full, chainPEM...)
}

// SerialHex returns a certificate's serial number as the lower-case hex of
// its big-endian bytes (an even number of digits), as certctl stores and
// prints serials; "" for nil.
func SerialHex(c *x509.Certificate) string {
	if c == nil || c.SerialNumber == nil {
		return ""
	}
	return hex.EncodeToString(c.SerialNumber.Bytes())
}

// CheckName returns nil when name may name a certificate, else an error
// matching [ErrInvalidName]. A name is a store key, a lock file name and an
// export directory name, so it must be a plain file name of 1 to
// [MaxNameLen] bytes without '/', '\', "..", a leading '-', spaces or
// control characters.
func CheckName(name string) error {
	ok := name != "" && name != "." && len(name) <= MaxNameLen && !strings.HasPrefix(name, "-") &&
		!strings.Contains(name, "..") && !strings.ContainsAny(name, `/\`)
	for _, r := range name {
		ok = ok && r > ' ' && r != 0x7f
	}
	if !ok {
		return fmt.Errorf("%q: %w (must be a plain file name of at most %d bytes: no '/', '\\', '..', leading '-', spaces or control characters)",
			name, ErrInvalidName, MaxNameLen)
	}
	return nil
}
