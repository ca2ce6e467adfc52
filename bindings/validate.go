package bindings

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"
)

// parsePEM decodes and validates a PEM chain and key into an entry.
func (b *Binder) parsePEM(name string, fullchainPEM, keyPEM []byte, names []string) (*entry, error) {
	if name == "" {
		return nil, fmt.Errorf("binding name: %w", ErrInvalidName)
	}
	var ders [][]byte
	for rest := fullchainPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			ders = append(ders, block.Bytes)
		}
	}
	if len(ders) == 0 {
		return nil, fmt.Errorf("%s: reading certificate PEM: %w", name, ErrNoCertificate)
	}
	chain, err := parseChain(name, ders)
	if err != nil {
		return nil, err
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: reading key PEM: %w", name, err)
	}
	return b.newEntry(name, tls.Certificate{Certificate: ders, PrivateKey: key, Leaf: chain[0]}, chain, names)
}

// parseCertificate validates an already decoded certificate into an entry.
func (b *Binder) parseCertificate(name string, cert *tls.Certificate, names []string) (*entry, error) {
	if name == "" {
		return nil, fmt.Errorf("binding name: %w", ErrInvalidName)
	}
	if cert == nil || len(cert.Certificate) == 0 {
		return nil, fmt.Errorf("%s: reading certificate: %w", name, ErrNoCertificate)
	}
	c := *cert
	var chain []*x509.Certificate
	if c.Leaf != nil && bytes.Equal(c.Leaf.Raw, c.Certificate[0]) {
		rest, err := parseChain(name, c.Certificate[1:])
		if err != nil {
			return nil, err
		}
		chain = append([]*x509.Certificate{c.Leaf}, rest...)
	} else {
		var err error
		if chain, err = parseChain(name, c.Certificate); err != nil {
			return nil, err
		}
		c.Leaf = chain[0]
	}
	if c.PrivateKey == nil {
		return nil, fmt.Errorf("%s: reading key: %w", name, ErrNoKey)
	}
	return b.newEntry(name, c, chain, names)
}

func parseChain(name string, ders [][]byte) ([]*x509.Certificate, error) {
	chain := make([]*x509.Certificate, len(ders))
	for i, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%s: parsing certificate %d: %w: %v", name, i, ErrBadCertificate, err)
		}
		chain[i] = c
	}
	return chain, nil
}

// parseKeyPEM returns the first private key in keyPEM.
func parseKeyPEM(keyPEM []byte) (crypto.PrivateKey, error) {
	for rest := keyPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, ErrNoKey
		}
		if !strings.HasSuffix(block.Type, "PRIVATE KEY") {
			continue
		}
		var (
			key crypto.PrivateKey
			err error
		)
		switch block.Type {
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrNoKey, block.Type, err)
		}
		return key, nil
	}
}

// newEntry checks a decoded certificate: the key matches the leaf, the leaf is
// valid now, it covers every name, and the chain verifies.
func (b *Binder) newEntry(name string, cert tls.Certificate, chain []*x509.Certificate, names []string) (*entry, error) {
	leaf := chain[0]
	if err := keyMatches(cert.PrivateKey, leaf); err != nil {
		return nil, fmt.Errorf("%s: checking key: %w", name, err)
	}
	now := b.now()
	if now.Before(leaf.NotBefore) {
		return nil, fmt.Errorf("%s: checking validity: %w (not before %s)", name, ErrNotYetValid, leaf.NotBefore.Format(time.RFC3339))
	}
	if !now.Before(leaf.NotAfter) {
		return nil, fmt.Errorf("%s: checking validity: %w (not after %s)", name, ErrExpired, leaf.NotAfter.Format(time.RFC3339))
	}
	served, err := servedNames(leaf, names)
	if err != nil {
		return nil, fmt.Errorf("%s: checking names: %w", name, err)
	}
	if err := b.verifyChain(chain, now); err != nil {
		return nil, fmt.Errorf("%s: checking chain: %w: %v", name, ErrBadChain, err)
	}
	// Keep only what a handshake needs: the DER chain, the key and the parsed
	// leaf (which aliases the leaf DER). Parsed intermediates are dropped.
	c := &tls.Certificate{
		Certificate:                  cert.Certificate,
		PrivateKey:                   cert.PrivateKey,
		Leaf:                         leaf,
		SupportedSignatureAlgorithms: cert.SupportedSignatureAlgorithms,
		OCSPStaple:                   cert.OCSPStaple,
		SignedCertificateTimestamps:  cert.SignedCertificateTimestamps,
	}
	return &entry{name: name, cert: c, names: served}, nil
}

func keyMatches(key crypto.PrivateKey, leaf *x509.Certificate) error {
	signer, ok := key.(crypto.Signer)
	if !ok {
		return fmt.Errorf("%w: %T cannot sign", ErrNoKey, key)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return ErrKeyMismatch
	}
	return nil
}

// servedNames normalizes the requested names (nil = the leaf's DNS names) and
// checks that the leaf covers each one, with x509 host-name semantics: a
// wildcard SAN covers one label, and a requested wildcard needs that very SAN.
func servedNames(leaf *x509.Certificate, names []string) ([]string, error) {
	fromLeaf := names == nil
	if fromLeaf {
		names = leaf.DNSNames
	}
	out := make([]string, 0, len(names))
	seen := make(map[string]struct{}, len(names))
	for _, n := range names {
		norm := normalizeName(n)
		if norm == "" {
			return nil, fmt.Errorf("%w: %q", ErrInvalidName, n)
		}
		if _, dup := seen[norm]; dup {
			continue
		}
		seen[norm] = struct{}{}
		if !fromLeaf {
			if err := leaf.VerifyHostname(norm); err != nil {
				return nil, fmt.Errorf("%w %q (leaf has %v)", ErrNameMismatch, n, leaf.DNSNames)
			}
		}
		out = append(out, norm)
	}
	return out, nil
}

// normalizeName lower-cases ASCII letters and drops one trailing dot. It
// returns n itself when nothing changes, so leaf names are not copied.
func normalizeName(n string) string {
	n = strings.TrimSuffix(n, ".")
	for i := 0; i < len(n); i++ {
		if c := n[i]; 'A' <= c && c <= 'Z' {
			buf := []byte(n)
			for j := i; j < len(buf); j++ {
				if c := buf[j]; 'A' <= c && c <= 'Z' {
					buf[j] = c + ('a' - 'A')
				}
			}
			return string(buf)
		}
	}
	return n
}

// verifyChain checks the chain as described on Options.Roots.
func (b *Binder) verifyChain(chain []*x509.Certificate, now time.Time) error {
	leaf := chain[0]
	opts := x509.VerifyOptions{
		Intermediates: x509.NewCertPool(),
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	if b.roots != nil {
		for _, c := range chain[1:] {
			opts.Intermediates.AddCert(c)
		}
		opts.Roots = b.roots
		_, err := leaf.Verify(opts)
		return err
	}
	if len(chain) == 1 {
		return nil // a lone leaf: nothing to check it against
	}
	last := chain[len(chain)-1]
	if bytes.Equal(last.RawIssuer, last.RawSubject) && last.CheckSignatureFrom(last) == nil {
		for _, c := range chain[1 : len(chain)-1] {
			opts.Intermediates.AddCert(c)
		}
		opts.Roots = x509.NewCertPool()
		opts.Roots.AddCert(last)
		_, err := leaf.Verify(opts)
		return err
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return fmt.Errorf("certificate %d is not signed by certificate %d: %v", i, i+1, err)
		}
		if c := chain[i+1]; now.Before(c.NotBefore) || !now.Before(c.NotAfter) {
			return fmt.Errorf("certificate %d (%s) is not valid at %s", i+1, c.Subject, now.Format(time.RFC3339))
		}
	}
	return nil
}
