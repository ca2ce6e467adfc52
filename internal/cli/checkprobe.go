package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net"
	"os"
	"slices"
	"sync"
	"time"
)

// probeVersions are the protocol versions `certctl check` tries, oldest
// first.
var probeVersions = []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13}

// probeWorkers bounds the handshakes a check runs at once against one
// server.
const probeWorkers = 4

// requiredWait is how long a TLS 1.3 connection that was asked for a client
// certificate (and sent none) is read from to learn whether the server
// refuses it: in TLS 1.3 the refusal comes after the client's handshake
// ended. Used only when the server speaks no TLS 1.2, where the refusal is
// part of the handshake.
const requiredWait = time.Second

// handshake is what one TLS handshake with the server showed.
type handshake struct {
	// state is the connection as it was when the server's certificate had
	// arrived; nil when the handshake failed before that.
	state *tls.ConnectionState
	// requested is set when the server asked for a client certificate, and
	// cas are the issuers it named (DER distinguished names).
	requested bool
	cas       [][]byte
	// err is the handshake's failure (it may come after state, e.g. when
	// the server refused to go on without a client certificate).
	err error
	// addr is the address connected to.
	addr string
	// conn is the connection when the handshake succeeded and the caller
	// asked to keep it; nil otherwise.
	conn *tls.Conn
}

// reachedServer reports that the server accepted the offer: it chose a
// version and suite and sent its certificate.
func (h *handshake) reachedServer() bool { return h.state != nil }

// prober runs handshakes against one server address with one SNI name.
type prober struct {
	addr    string // host:port to dial
	sni     string // "" sends none
	timeout time.Duration
}

// handshake connects and runs one handshake with the client settings of
// base changed by mod. It verifies nothing (the caller does, with the
// chain it records) and offers an empty client certificate when asked for
// one. keep leaves a successful connection open in the result.
func (p *prober) handshake(ctx context.Context, mod func(*tls.Config), keep bool) *handshake {
	h := &handshake{}
	var mu sync.Mutex
	cfg := &tls.Config{
		ServerName:         p.sni,
		InsecureSkipVerify: true, // verified by the caller, against its own roots, at its clock
		MinVersion:         tls.VersionTLS10,
		VerifyConnection: func(cs tls.ConnectionState) error {
			mu.Lock()
			defer mu.Unlock()
			h.state = &cs
			return nil
		},
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			mu.Lock()
			defer mu.Unlock()
			h.requested, h.cas = true, cri.AcceptableCAs
			return &tls.Certificate{}, nil
		},
	}
	if mod != nil {
		mod(cfg)
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: p.timeout}, Config: cfg}
	c, err := d.DialContext(ctx, "tcp", p.addr)
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		h.err = err
		return h
	}
	tc := c.(*tls.Conn)
	h.addr = tc.RemoteAddr().String()
	if keep {
		h.conn = tc
	} else {
		_ = tc.Close()
	}
	return h
}

// probeResult is everything `certctl check` learns from one server name.
type probeResult struct {
	addr  string
	main  *handshake
	chain []*x509.Certificate
	// versions are the accepted protocol versions, oldest first, and
	// suites the accepted suites of each version (for TLS 1.3 the one the
	// server chose: Go's client cannot offer TLS 1.3 suites one by one).
	versions []uint16
	suites   map[uint16][]uint16
	// clientAuth is "none", "requested" (optional) or "required";
	// clientCAs the issuers the server names for client certificates.
	clientAuth string
	clientCAs  []string
}

// probe connects to addr with SNI name sni: one handshake with the client's
// defaults for the certificate and chain, then one per protocol version and
// one per cipher suite of each accepted version up to TLS 1.2.
func probe(ctx context.Context, addr, sni string, timeout time.Duration) (*probeResult, error) {
	p := &prober{addr: addr, sni: sni, timeout: timeout}
	// Offering every suite lets a server that accepts only suites Go
	// does not offer by default still show its certificate.
	main := p.handshake(ctx, func(c *tls.Config) { c.CipherSuites = allSuites }, true)
	if !main.reachedServer() {
		if main.err == nil {
			main.err = errors.New("no certificate received")
		}
		return nil, main.err
	}
	r := &probeResult{addr: addr, main: main, chain: main.state.PeerCertificates, suites: map[uint16][]uint16{}}
	if main.addr != "" {
		// Every further handshake goes to the address this one reached,
		// the same server behind a name with several addresses.
		p.addr = main.addr
		r.addr = main.addr
	}

	byVersion := make([]*handshake, len(probeVersions))
	parallel(len(probeVersions), func(i int) {
		v := probeVersions[i]
		byVersion[i] = p.handshake(ctx, func(c *tls.Config) {
			// Every suite Go can offer, so that a server accepting an
			// old version only with suites Go does not offer by default
			// (RSA key exchange, 3DES, RC4) is not missed.
			c.MinVersion, c.MaxVersion, c.CipherSuites = v, v, allSuites
		}, false)
	})
	for i, h := range byVersion {
		if h.reachedServer() && h.state.Version == probeVersions[i] {
			r.versions = append(r.versions, probeVersions[i])
			if probeVersions[i] == tls.VersionTLS13 {
				r.suites[tls.VersionTLS13] = []uint16{h.state.CipherSuite}
			}
		}
	}

	type job struct{ version, suite uint16 }
	var jobs []job
	for _, v := range r.versions {
		if v == tls.VersionTLS13 {
			continue
		}
		for _, s := range probeSuites() {
			if slices.Contains(s.SupportedVersions, v) {
				jobs = append(jobs, job{v, s.ID})
			}
		}
	}
	ok := make([]bool, len(jobs))
	parallel(len(jobs), func(i int) {
		j := jobs[i]
		h := p.handshake(ctx, func(c *tls.Config) {
			c.MinVersion, c.MaxVersion, c.CipherSuites = j.version, j.version, []uint16{j.suite}
		}, false)
		ok[i] = h.reachedServer() && h.state.CipherSuite == j.suite
	})
	for i, j := range jobs {
		if ok[i] {
			r.suites[j.version] = append(r.suites[j.version], j.suite)
		}
	}

	r.clientAuth, r.clientCAs = "none", nil
	if main.requested || slices.ContainsFunc(byVersion, func(h *handshake) bool { return h.requested }) {
		r.clientAuth = clientAuthMode(main, byVersion)
		for _, ca := range main.cas {
			var n pkix.RDNSequence
			if _, err := asn1.Unmarshal(ca, &n); err == nil {
				var name pkix.Name
				name.FillFromRDNSequence(&n)
				r.clientCAs = append(r.clientCAs, name.String())
			}
		}
	}
	if main.conn != nil {
		_ = main.conn.Close()
	}
	return r, nil
}

// clientAuthMode tells a server that asks for a client certificate but
// goes on without one ("requested") from one that refuses ("required"). In
// TLS 1.2 and older the refusal ends the handshake; in TLS 1.3 it arrives
// after the client's side of the handshake is done, so the main connection
// is read from briefly when no older version was accepted.
func clientAuthMode(main *handshake, byVersion []*handshake) string {
	for i, h := range byVersion {
		if probeVersions[i] == tls.VersionTLS13 || !h.reachedServer() || !h.requested {
			continue
		}
		if h.err != nil {
			return "required"
		}
		return "requested"
	}
	if main.err != nil {
		return "required"
	}
	if main.conn == nil {
		return "requested"
	}
	_ = main.conn.SetReadDeadline(time.Now().Add(requiredWait))
	var b [1]byte
	_, err := main.conn.Read(b[:])
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) || errors.Is(err, os.ErrDeadlineExceeded) {
		return "requested"
	}
	return "required"
}

// probeSuites are the TLS 1.0-1.2 suites Go's client can offer, secure and
// insecure ones.
func probeSuites() []*tls.CipherSuite {
	return append(tls.CipherSuites(), tls.InsecureCipherSuites()...)
}

// allSuites are the IDs of probeSuites.
var allSuites = func() []uint16 {
	var ids []uint16
	for _, s := range probeSuites() {
		ids = append(ids, s.ID)
	}
	return ids
}()

// insecureSuite reports whether id is one of Go's insecure suites (RC4,
// 3DES, CBC with SHA-256, RSA key exchange... as crypto/tls classifies
// them).
func insecureSuite(id uint16) bool {
	return slices.ContainsFunc(tls.InsecureCipherSuites(), func(s *tls.CipherSuite) bool { return s.ID == id })
}

// parallel runs f(0)...f(n-1) on at most probeWorkers goroutines and waits.
func parallel(n int, f func(int)) {
	sem := make(chan struct{}, probeWorkers)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(i)
		}()
	}
	wg.Wait()
}
