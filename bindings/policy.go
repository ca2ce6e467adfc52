package bindings

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync/atomic"
)

// Policy chooses the protocol versions, cipher suites and client
// authentication of a [Binder.TLSConfig]. The zero value is [Intermediate].
type Policy struct {
	// MinVersion is the lowest TLS version accepted. Zero, and anything below
	// TLS 1.2, means TLS 1.2.
	MinVersion uint16

	// CipherSuites lists the TLS 1.2 cipher suites, in no particular order
	// (crypto/tls orders them). Nil or empty means ECDHE key exchange with AEAD ciphers
	// only (AES-GCM, ChaCha20-Poly1305): no CBC, no RSA key exchange, no 3DES
	// or RC4. TLS 1.3 suites are not configurable and are all AEAD.
	CipherSuites []uint16

	// CurvePreferences lists the key-exchange groups. Nil means crypto/tls's
	// defaults (which include the hybrid post-quantum X25519MLKEM768).
	CurvePreferences []tls.CurveID

	// ClientAuth, if set, requires every client to present a certificate that
	// verifies to one of its CAs (mutual TLS); the verified chains are in
	// ConnectionState.VerifiedChains. Nil means clients are not asked for a
	// certificate.
	//
	// It works through GetConfigForClient, which hands crypto/tls a copy of the
	// returned config made at the first handshake after each CA change:
	// settings made on the returned config before serving are kept, but those
	// made on a clone of it are not. http.Server adds its ALPN protocols to a
	// clone, so to serve HTTP/2 with ClientAuth set NextProtos to
	// []string{"h2", "http/1.1"} on the returned config.
	ClientAuth *ClientAuth
}

var (
	// Modern accepts TLS 1.3 only.
	Modern = Policy{MinVersion: tls.VersionTLS13}

	// Intermediate accepts TLS 1.2 and 1.3, TLS 1.2 with ECDHE key exchange
	// and AEAD suites only. It is the zero Policy.
	Intermediate = Policy{MinVersion: tls.VersionTLS12}
)

// intermediateSuites are the TLS 1.2 suites of Intermediate: forward secret
// and authenticated encryption only.
var intermediateSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSConfig returns a new server configuration that takes its certificates
// from b (so later changes to b apply to new handshakes) and its versions,
// suites and client authentication from p. The caller may set further fields
// (NextProtos, ...) before serving; the configuration must not be modified
// once in use.
func (b *Binder) TLSConfig(p Policy) *tls.Config {
	cfg := &tls.Config{
		GetCertificate:   b.GetCertificate,
		MinVersion:       max(p.MinVersion, tls.VersionTLS12),
		CipherSuites:     append([]uint16(nil), p.CipherSuites...),
		CurvePreferences: append([]tls.CurveID(nil), p.CurvePreferences...),
	}
	if len(p.CipherSuites) == 0 {
		cfg.CipherSuites = append([]uint16(nil), intermediateSuites...)
	}
	if p.ClientAuth != nil {
		p.ClientAuth.configure(cfg)
	}
	return cfg
}

// ClientAuth is a reloadable set of CAs that client certificates must verify
// to. Create one with [NewClientAuth], put it in [Policy].ClientAuth and call
// [ClientAuth.SetCAs] at any time: new handshakes use the new CAs, without
// rebuilding the server or its tls.Config. It is safe for concurrent use.
type ClientAuth struct {
	pool atomic.Pointer[x509.CertPool]
}

// NewClientAuth returns a ClientAuth trusting the CA certificates in caPEM.
func NewClientAuth(caPEM []byte) (*ClientAuth, error) {
	c := &ClientAuth{}
	if err := c.SetCAs(caPEM); err != nil {
		return nil, err
	}
	return c, nil
}

// SetCAs replaces the trusted CAs with the certificates in caPEM. On error
// (no certificate, a malformed one) the previous CAs stay in force.
func (c *ClientAuth) SetCAs(caPEM []byte) error {
	ders := certDERs(caPEM)
	if len(ders) == 0 {
		return fmt.Errorf("client CAs: %w", ErrNoCertificate)
	}
	cas, err := parseChain("client CAs", nil, ders, nil)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	for _, ca := range cas {
		pool.AddCert(ca)
	}
	c.pool.Store(pool)
	return nil
}

// configure makes cfg require a client certificate verified against the
// current pool. GetConfigForClient hands crypto/tls a config whose ClientCAs
// is the current pool (derived once per pool, then cached, so a handshake costs
// one atomic load). crypto/tls verifies full handshakes against it, lists its
// CAs in the CertificateRequest, and declines to resume a session whose client
// chain no longer verifies against it. Session tickets stay valid across
// reloads: they are sealed with the original config's keys.
func (c *ClientAuth) configure(cfg *tls.Config) {
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.ClientCAs = c.pool.Load()
	type derived struct {
		pool *x509.CertPool
		cfg  *tls.Config
	}
	var cache atomic.Pointer[derived]
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		pool := c.pool.Load()
		if d := cache.Load(); d != nil && d.pool == pool {
			return d.cfg, nil
		}
		dc := cfg.Clone()
		dc.GetConfigForClient = nil
		dc.ClientCAs = pool
		cache.Store(&derived{pool: pool, cfg: dc})
		return dc, nil
	}
}
