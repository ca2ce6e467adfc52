package bindings

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"
	"time"
)

// parsePEM decodes and validates a PEM chain and key into an entry.
// quickKeyPair, or crypto/tls for what it declines, decodes the chain, parses
// the leaf and the key and checks that they match; when crypto/tls refuses,
// pemError says why with a sentinel.
func (b *Binder) parsePEM(name string, fullchainPEM, keyPEM []byte, names []string) (*entry, error) {
	return b.parsePEMAt(name, fullchainPEM, keyPEM, names, checks{now: b.now()})
}

// checks are the settings of one validation: the time it checks validity
// at and, for a pass over many certificates, what the certificates share.
type checks struct {
	now time.Time
	// chainVerified is set when the source vouches for the chain's
	// signatures (Loaded.ChainVerified): they are not checked again unless
	// Options.Roots asks for a full verification.
	chainVerified bool
	// issuers, if set, parses the certificates after the leaf once per
	// pass: thousands of leaves share a few intermediates.
	issuers *issuerCache
}

// parsePEMAt is parsePEM with the checks of c.
func (b *Binder) parsePEMAt(name string, fullchainPEM, keyPEM []byte, names []string, c checks) (*entry, error) {
	if name == "" {
		return nil, fmt.Errorf("binding name: %w", ErrInvalidName)
	}
	pair, ok := quickKeyPair(fullchainPEM, keyPEM)
	if !ok {
		var err error
		if pair, err = tls.X509KeyPair(fullchainPEM, keyPEM); err != nil {
			return nil, pemError(name, fullchainPEM, err)
		}
	}
	chain, err := parseChain(name, pair.Leaf, pair.Certificate, c.issuers)
	if err != nil {
		return nil, err
	}
	pair.Leaf = chain[0]
	return b.newEntry(name, pair, chain, names, c)
}

// quickKeyPair is tls.X509KeyPair for the usual input, a key PEM whose
// label says its encoding: crypto/tls tries PKCS #1, then PKCS #8, then SEC 1
// on every key, and the failed attempts cost a tenth of a binder's load. It
// reports false for anything else (no certificate, a key that does not parse
// as its label says, a key that does not match the leaf): the caller then
// asks crypto/tls, whose answer and errors stay the reference.
func quickKeyPair(fullchainPEM, keyPEM []byte) (tls.Certificate, bool) {
	ders := certDERs(fullchainPEM)
	if len(ders) == 0 {
		return tls.Certificate{}, false
	}
	var block *pem.Block
	for rest := keyPEM; ; {
		if block, rest = pem.Decode(rest); block == nil {
			return tls.Certificate{}, false
		}
		if block.Type == "PRIVATE KEY" || strings.HasSuffix(block.Type, " PRIVATE KEY") {
			break
		}
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return tls.Certificate{}, false
	}
	if err != nil {
		return tls.Certificate{}, false
	}
	leaf, err := x509.ParseCertificate(ders[0])
	if err != nil || keyMatches(key, leaf) != nil {
		return tls.Certificate{}, false
	}
	return tls.Certificate{Certificate: ders, PrivateKey: key, Leaf: leaf}, true
}

// pemError explains an error of tls.X509KeyPair: the certificates are
// checked first (ErrNoCertificate, ErrBadCertificate), then the key
// (ErrNoKey, ErrKeyMismatch). crypto/tls has no sentinel errors: its
// mismatch errors are the ones that say so.
func pemError(name string, fullchainPEM []byte, err error) error {
	ders := certDERs(fullchainPEM)
	if len(ders) == 0 {
		return fmt.Errorf("%s: reading certificate PEM: %w", name, ErrNoCertificate)
	}
	if _, cerr := parseChain(name, nil, ders, nil); cerr != nil {
		return cerr
	}
	sentinel := ErrNoKey
	if msg := err.Error(); strings.Contains(msg, "does not match") || strings.Contains(msg, "unknown public key algorithm") {
		sentinel = ErrKeyMismatch
	}
	return fmt.Errorf("%s: reading key PEM: %w: %v", name, sentinel, err)
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
	chain, err := parseChain(name, c.Leaf, c.Certificate, nil)
	if err != nil {
		return nil, err
	}
	c.Leaf = chain[0]
	if c.PrivateKey == nil {
		return nil, fmt.Errorf("%s: reading key: %w", name, ErrNoKey)
	}
	return b.newEntry(name, c, chain, names, checks{now: b.now()})
}

// certDERs returns the DER bytes of the CERTIFICATE blocks of data, in
// order, skipping blocks of other types.
func certDERs(data []byte) [][]byte {
	var ders [][]byte
	for rest := data; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			return ders
		}
		if block.Type == "CERTIFICATE" {
			ders = append(ders, block.Bytes)
		}
	}
}

// parseChain parses ders, taking leaf for ders[0] when it is that
// certificate parsed already (leaf may be nil), and the others from issuers
// when it is set (nil parses each). subject names the input in errors.
func parseChain(subject string, leaf *x509.Certificate, ders [][]byte, issuers *issuerCache) ([]*x509.Certificate, error) {
	chain := make([]*x509.Certificate, len(ders))
	for i, der := range ders {
		if i == 0 && leaf != nil && bytes.Equal(leaf.Raw, der) {
			chain[0] = leaf
			continue
		}
		var (
			c   *x509.Certificate
			err error
		)
		if i > 0 && issuers != nil {
			c, err = issuers.parse(der)
		} else {
			c, err = x509.ParseCertificate(der)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: parsing certificate %d: %w: %v", subject, i, ErrBadCertificate, err)
		}
		chain[i] = c
	}
	return chain, nil
}

// maxIssuers bounds the certificates an issuerCache keeps.
const maxIssuers = 64

// issuerCache holds the certificates after the leaf parsed during one Sync
// pass, by DER, so that the leaves of one intermediate share its parse. A
// parsed certificate is never changed, so they share it safely. It is safe
// for concurrent use.
type issuerCache struct {
	mu sync.Mutex
	m  map[string]*x509.Certificate
}

// parse returns der parsed, from the cache when it holds it.
func (ic *issuerCache) parse(der []byte) (*x509.Certificate, error) {
	ic.mu.Lock()
	c, ok := ic.m[string(der)]
	ic.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ic.mu.Lock()
	if ic.m == nil {
		ic.m = make(map[string]*x509.Certificate)
	}
	if len(ic.m) < maxIssuers {
		ic.m[string(der)] = c
	}
	ic.mu.Unlock()
	return c, nil
}

// newEntry checks a decoded certificate: the key matches the leaf, the leaf is
// valid at ck.now, it covers every name, and the chain verifies (when the
// source vouched for its signatures, every certificate of it is valid at
// ck.now).
func (b *Binder) newEntry(name string, cert tls.Certificate, chain []*x509.Certificate, names []string, ck checks) (*entry, error) {
	leaf := chain[0]
	if err := keyMatches(cert.PrivateKey, leaf); err != nil {
		return nil, fmt.Errorf("%s: checking key: %w", name, err)
	}
	now := ck.now
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
	verify := b.verifyChain
	if ck.chainVerified && b.roots == nil {
		// The signatures, checked by the source when it stored this very
		// chain, are the bulk of a load's time: only the dates are left.
		verify = chainDates
	}
	if err := verify(chain, now); err != nil {
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

// keyMatches checks that key is the private half of leaf's public key. Set's
// keys were checked by crypto/tls already; SetCertificate's were not.
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
	}
	return chainDates(chain, now)
}

// chainDates checks that every certificate after the leaf is valid at now
// (newEntry checks the leaf).
func chainDates(chain []*x509.Certificate, now time.Time) error {
	for i, c := range chain[1:] {
		if now.Before(c.NotBefore) || !now.Before(c.NotAfter) {
			return fmt.Errorf("certificate %d (%s) is not valid at %s", i+1, c.Subject, now.Format(time.RFC3339))
		}
	}
	return nil
}
