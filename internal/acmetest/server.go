package acmetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

// DefaultProfile is the name of the profile every Server has. Orders that
// name no profile get it (Pebble itself would pick one at random).
const DefaultProfile = "default"

// DefaultValidity is the validity of certificates of the default profile when
// Options.Validity is zero.
const DefaultValidity = 90 * 24 * time.Hour

// ManagementPrefix is the path prefix under which a Server serves Pebble's
// management API on its HTTPS port, for example
// "https://127.0.0.1:PORT/management/roots/0".
const ManagementPrefix = "/management"

// CAAIdentity is the domain name by which every Server's validation
// authority recognises itself in CAA records, and which its directory lists
// in "caaIdentities".
const CAAIdentity = "pebble.letsencrypt.org"

// clientTimeout is the overall timeout of clients made by HTTPClient.
const clientTimeout = 30 * time.Second

// Options configure a Server. The zero value is a usable configuration; each
// field documents its zero value.
type Options struct {
	// Listen is the address of the HTTPS listener serving ACME and
	// management requests. "" means "127.0.0.1:0" (a free port). The
	// endpoint's certificate names only 127.0.0.1, ::1 and localhost; the
	// management API is unauthenticated, so keep it on loopback.
	Listen string

	// HTTPPort is the port on 127.0.0.1 that Pebble's validation authority
	// dials for http-01 challenges; the caller serves the tokens there.
	// 0 picks a free port (free at Start; nothing listens on it).
	HTTPPort int

	// TLSPort is the port on 127.0.0.1 dialled for tls-alpn-01 challenges.
	// 0 picks a free port like HTTPPort.
	TLSPort int

	// Validity is the validity of certificates of the default profile,
	// rounded up to whole seconds. 0 means DefaultValidity (90 days).
	Validity time.Duration

	// Profiles are extra certificate profiles, name to validity (rounded up
	// to whole seconds; 0 means DefaultValidity). An entry named "default"
	// overrides Validity. Orders that name no profile get "default".
	Profiles map[string]time.Duration

	// ValidationLatency holds each answer to a challenge request that long
	// after the validation, as a public CA's validation takes about a
	// second: for benchmarks of how well a client overlaps its waits. 0
	// answers as soon as the validation is over.
	ValidationLatency time.Duration

	// AlwaysValid makes the validation authority accept every challenge
	// without contacting anything (PEBBLE_VA_ALWAYS_VALID).
	AlwaysValid bool

	// NonceReject is the percentage (0-100) of valid nonces rejected as
	// badNonce (PEBBLE_WFE_NONCEREJECT). 0 rejects none.
	NonceReject int

	// AuthzReuse is the percentage (0-100) of orders that reuse a valid
	// authorization of the same account and identifier (PEBBLE_AUTHZREUSE).
	// 0 never reuses, so every order solves a challenge.
	AuthzReuse int

	// RequireEAB makes newAccount requests fail without an external account
	// binding.
	RequireEAB bool

	// EABKeys are the external account binding keys: key ID to HMAC key in
	// unpadded base64url. nil means none.
	EABKeys map[string]string

	// Logger receives Pebble's log lines at debug level and the Server's
	// own events. nil discards everything.
	Logger *slog.Logger
}

// Server is a running in-process ACME CA. Create it with Start and stop it
// with Close. Its methods are safe for concurrent use.
type Server struct {
	logger   *slog.Logger
	store    *db.MemoryStore
	ca       *ca.CAImpl
	wfe      wfe.WebFrontEndImpl
	dns      *sharedDNS
	profiles int           // number of profiles, including the default one
	noReuse  bool          // Options.AuthzReuse is 0: see handler.retireAuthorizations
	latency  time.Duration // Options.ValidationLatency

	httpPort, tlsPort int
	reserved          []int // ports picked by reservePort, released by Close

	endpoint  *endpointCert
	transport *http.Transport
	baseURL   string // "https://127.0.0.1:PORT"
	rootPEM   []byte
	interPEM  []byte

	listener net.Listener
	httpSrv  *http.Server
	served   chan struct{} // closed when Serve returned
	done     chan struct{} // closed by Close: ends the waits of the handler

	closeOnce sync.Once

	connMu sync.Mutex
	conns  map[net.Conn]http.ConnState // open connections of httpSrv

	mu         sync.Mutex
	orders     [][]string // identifiers of each newOrder request
	replaces   int        // newOrder requests with a non-empty "replaces"
	failLeft   int        // newOrder requests still to refuse
	failStatus int
	failRetry  time.Duration
	fault      faultState // see SetFaults
	inFlight   inFlight   // see OrdersInFlight
}

// envMu serialises the environment changes around Pebble's constructors,
// which read their knobs from the environment.
var envMu sync.Mutex

// Start starts a CA as opts describe and returns when it serves requests.
// The shared DNS server is started on first use.
func Start(opts Options) (*Server, error) {
	logger := opts.Logger
	if logger == nil {
		logger = discardLogger
	}
	profiles, err := caProfiles(opts)
	if err != nil {
		return nil, err
	}
	if opts.NonceReject < 0 || opts.NonceReject > 100 {
		return nil, fmt.Errorf("%w: NonceReject %d not in 0-100", ErrBadOptions, opts.NonceReject)
	}
	if opts.AuthzReuse < 0 || opts.AuthzReuse > 100 {
		return nil, fmt.Errorf("%w: AuthzReuse %d not in 0-100", ErrBadOptions, opts.AuthzReuse)
	}
	if opts.HTTPPort < 0 || opts.HTTPPort > math.MaxUint16 || opts.TLSPort < 0 || opts.TLSPort > math.MaxUint16 {
		return nil, fmt.Errorf("%w: port out of range", ErrBadOptions)
	}

	dnsServer, err := getDNS()
	if err != nil {
		return nil, err
	}
	s := &Server{
		logger:   logger,
		dns:      dnsServer,
		profiles: len(profiles),
		noReuse:  opts.AuthzReuse == 0,
		latency:  opts.ValidationLatency,
		httpPort: opts.HTTPPort,
		tlsPort:  opts.TLSPort,
		served:   make(chan struct{}),
		done:     make(chan struct{}),
		conns:    make(map[net.Conn]http.ConnState),
	}
	started := false
	defer func() {
		if !started {
			releasePorts(s.reserved...)
		}
	}()
	if s.httpPort == 0 {
		if s.httpPort, err = reservePort(); err != nil {
			return nil, err
		}
		s.reserved = append(s.reserved, s.httpPort)
	}
	if s.tlsPort == 0 {
		if s.tlsPort, err = reservePort(); err != nil {
			return nil, err
		}
		s.reserved = append(s.reserved, s.tlsPort)
	}

	pebbleLog := stdLogger(logger, "pebble")
	s.store = db.NewMemoryStore()
	for kid, key := range opts.EABKeys {
		if err := s.store.AddExternalAccountKeyByID(kid, key); err != nil {
			return nil, fmt.Errorf("%w: EAB key %q: %v", ErrBadOptions, kid, err)
		}
	}
	s.ca = ca.New(pebbleLog, s.store, "", "ecdsa", 0, 1, profiles)
	restore := setEnv(map[string]string{
		"PEBBLE_VA_NOSLEEP":      "1",
		"PEBBLE_VA_ALWAYS_VALID": strconv.FormatBool(opts.AlwaysValid),
		"PEBBLE_WFE_NONCEREJECT": strconv.Itoa(opts.NonceReject),
		"PEBBLE_AUTHZREUSE":      strconv.Itoa(opts.AuthzReuse),
	})
	vaImpl := va.New(pebbleLog, s.httpPort, s.tlsPort, false, dnsServer.addr, s.store)
	s.wfe = wfe.New(pebbleLog, s.store, vaImpl, s.ca, []string{CAAIdentity},
		false, opts.RequireEAB, 0, 0)
	restore()

	s.rootPEM = s.ca.GetRootCert(0).PEM()
	s.interPEM = s.ca.GetIntermediateCert(0).PEM()

	if s.endpoint, err = newEndpointCert(); err != nil {
		return nil, fmt.Errorf("https endpoint: %w", err)
	}
	handler := newHandler(s)
	if err := handler.checkDirectory(); err != nil {
		return nil, err
	}

	listen := opts.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	ln, err := listenTCP(listen)
	if err != nil {
		return nil, fmt.Errorf("%s: listening: %w", listen, err)
	}
	s.listener = ln
	s.baseURL = baseURL(ln.Addr().(*net.TCPAddr))
	s.transport = &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: s.endpoint.pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
	s.httpSrv = &http.Server{
		Handler:           handler,
		ErrorLog:          stdLogger(logger, "http"),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ConnState:         s.trackConn,
	}
	tlsLn := tls.NewListener(ln, &tls.Config{
		Certificates: []tls.Certificate{s.endpoint.cert},
		MinVersion:   tls.VersionTLS12,
	})
	go func() {
		defer close(s.served)
		err := s.httpSrv.Serve(tlsLn)
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("acmetest: serving", slog.String("addr", s.baseURL), slog.Any("err", err))
		}
	}()
	started = true
	logger.Info("acmetest: ACME server started",
		slog.String("directory", s.DirectoryURL()),
		slog.String("dns", s.DNSAddr()),
		slog.Int("http01_port", s.httpPort),
		slog.Int("tlsalpn01_port", s.tlsPort))
	return s, nil
}

// caProfiles builds Pebble's profile table from opts.
func caProfiles(opts Options) (map[string]ca.Profile, error) {
	seconds := func(name string, d time.Duration) (uint64, error) {
		if d < 0 {
			return 0, fmt.Errorf("%w: profile %q: negative validity %s", ErrBadOptions, name, d)
		}
		if d == 0 {
			d = DefaultValidity
		}
		return uint64((d + time.Second - 1) / time.Second), nil
	}
	all := map[string]time.Duration{DefaultProfile: opts.Validity}
	for name, d := range opts.Profiles {
		if name == "" {
			return nil, fmt.Errorf("%w: profile with empty name", ErrBadOptions)
		}
		all[name] = d
	}
	profiles := make(map[string]ca.Profile, len(all))
	for name, d := range all {
		secs, err := seconds(name, d)
		if err != nil {
			return nil, err
		}
		profiles[name] = ca.Profile{
			Description:    fmt.Sprintf("certificates valid for %s", time.Duration(secs)*time.Second),
			ValidityPeriod: secs,
		}
	}
	return profiles, nil
}

// setEnv sets the environment variables in vars under envMu and returns a
// function that restores their previous values and releases envMu.
func setEnv(vars map[string]string) (restore func()) {
	envMu.Lock()
	type old struct {
		value string
		set   bool
	}
	saved := make(map[string]old, len(vars))
	for k, v := range vars {
		prev, ok := os.LookupEnv(k)
		saved[k] = old{prev, ok}
		_ = os.Setenv(k, v)
	}
	return func() {
		defer envMu.Unlock()
		for k, o := range saved {
			if o.set {
				_ = os.Setenv(k, o.value)
			} else {
				_ = os.Unsetenv(k)
			}
		}
	}
}

var (
	portMu sync.Mutex
	// reservedPorts are the challenge ports picked for live Servers: the
	// kernel could hand them out again, as nothing listens on them yet.
	reservedPorts = make(map[int]bool)
)

// reservePort returns a free port of 127.0.0.1 that no other live Server of
// this process uses as a challenge port.
func reservePort() (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	for range 100 {
		p, err := freeTCPPort()
		if err != nil {
			return 0, err
		}
		if !reservedPorts[p] {
			reservedPorts[p] = true
			return p, nil
		}
	}
	return 0, errors.New("finding a free port: every port offered is reserved")
}

// releasePorts returns ports picked by reservePort.
func releasePorts(ports ...int) {
	portMu.Lock()
	defer portMu.Unlock()
	for _, p := range ports {
		delete(reservedPorts, p)
	}
}

// listenTCP listens on addr. When addr asks for any free port, it avoids
// the challenge ports reserved for live Servers.
func listenTCP(addr string) (net.Listener, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port != "0" {
		return net.Listen("tcp", addr)
	}
	for range 100 {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		portMu.Lock()
		taken := reservedPorts[ln.Addr().(*net.TCPAddr).Port]
		portMu.Unlock()
		if !taken {
			return ln, nil
		}
		_ = ln.Close()
	}
	return nil, errors.New("every port offered is reserved")
}

// freeTCPPort returns a port of 127.0.0.1 that was free a moment ago.
func freeTCPPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// baseURL is the https URL of a listener, with a wildcard address replaced by
// the loopback address of the same family.
func baseURL(a *net.TCPAddr) string {
	ip := a.IP
	switch {
	case ip == nil || ip.Equal(net.IPv4zero):
		ip = net.IPv4(127, 0, 0, 1)
	case ip.Equal(net.IPv6unspecified):
		ip = net.IPv6loopback
	}
	return "https://" + net.JoinHostPort(ip.String(), strconv.Itoa(a.Port))
}

// Close stops the HTTPS listener and waits for requests in flight (at most a
// few seconds). It does not stop the shared DNS server, and Pebble's
// validation authority keeps one idle goroutine per Server (Pebble offers
// no way to stop it). Close may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.httpSrv.SetKeepAlivesEnabled(false)
		s.transport.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut := make(chan error, 1)
		go func() { shut <- s.httpSrv.Shutdown(ctx) }()
		// Shutdown waits 5 s for connections that never sent a request
		// (a client's spare dial): close them at once.
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for waiting := true; waiting; {
			s.closeConns(http.StateNew)
			select {
			case err := <-shut:
				if err != nil {
					_ = s.httpSrv.Close()
				}
				waiting = false
			case <-tick.C:
			}
		}
		<-s.served
		releasePorts(s.reserved...)
		s.logger.Info("acmetest: ACME server stopped", slog.String("directory", s.DirectoryURL()))
	})
}

// trackConn is httpSrv's ConnState hook.
func (s *Server) trackConn(c net.Conn, state http.ConnState) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if state == http.StateClosed || state == http.StateHijacked {
		delete(s.conns, c)
		return
	}
	s.conns[c] = state
}

// closeConns closes the connections in state.
func (s *Server) closeConns(state http.ConnState) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	for c, st := range s.conns {
		if st == state {
			_ = c.Close()
			delete(s.conns, c)
		}
	}
}

// DirectoryURL returns the URL of the ACME directory,
// "https://127.0.0.1:PORT/dir".
func (s *Server) DirectoryURL() string { return s.baseURL + wfe.DirectoryPath }

// ManagementURL returns the base URL of Pebble's management API,
// "https://127.0.0.1:PORT/management" (append "/roots/0" and so on).
func (s *Server) ManagementURL() string { return s.baseURL + ManagementPrefix }

// HTTPClient returns a new client that trusts the HTTPS endpoint (and
// nothing else). Clients of one Server share a transport.
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{Transport: s.transport, Timeout: clientTimeout}
}

// ServerCAPEM returns the PEM of the private CA that issued the HTTPS
// endpoint's certificate, for clients configured with a CA file.
func (s *Server) ServerCAPEM() []byte { return clone(s.endpoint.caPEM) }

// RootPEM returns the PEM of the root that issues this Server's certificates:
// the same bytes as the management API's /roots/0. It is made at every Start.
// The error is always nil; it is kept for callers written against a remote CA.
func (s *Server) RootPEM() ([]byte, error) { return clone(s.rootPEM), nil }

// Roots returns a new pool holding the issuing root of RootPEM.
func (s *Server) Roots() (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.rootPEM) {
		return nil, fmt.Errorf("%w: root is not a PEM certificate", ErrUnexpectedPebble)
	}
	return pool, nil
}

// IntermediatePEM returns the PEM of the intermediate certificate that signs
// leaf certificates (the management API's /intermediates/0). The error is
// always nil.
func (s *Server) IntermediatePEM() ([]byte, error) { return clone(s.interPEM), nil }

// DNSAddr returns "127.0.0.1:PORT", the address (UDP and TCP) of the shared
// DNS server. Give it to lego with dns01.AddRecursiveNameservers.
func (s *Server) DNSAddr() string { return s.dns.addr }

// HTTPPort returns the port on 127.0.0.1 dialled for http-01 challenges.
func (s *Server) HTTPPort() int { return s.httpPort }

// TLSPort returns the port on 127.0.0.1 dialled for tls-alpn-01 challenges.
func (s *Server) TLSPort() int { return s.tlsPort }

// SetTXT adds value to the TXT records of fqdn ("_acme-challenge.a.example")
// in the shared DNS server. Records are shared by every Server of the process.
func (s *Server) SetTXT(fqdn, value string) { s.dns.setTXT(fqdn, value) }

// ClearTXT removes every TXT record of fqdn from the shared DNS server.
func (s *Server) ClearTXT(fqdn string) { s.dns.clearTXT(fqdn) }

// SetAddrs makes addrs the only A (IPv4) and AAAA (IPv6) records of name in
// the shared DNS server, in place of the default 127.0.0.1; no addrs makes
// the name resolve to nothing (empty answers). The validation authority
// dials the first AAAA record, else the first A record. Records are shared
// by every Server of the process: use names of one test only, and
// [Server.ClearRecords] them when done.
func (s *Server) SetAddrs(name string, addrs ...netip.Addr) { s.dns.setAddrs(name, addrs) }

// SetCAA adds the CAA record `0 TAG "VALUE"` to name in the shared DNS
// server ("issue", "ca.example"). The validation authority honours them
// (RFC 8659): a challenge whose identifier is governed by "issue" (or, for a
// wildcard, "issuewild") records none of which names CAAIdentity fails with
// an ACME problem of type caa. Clear them with [Server.ClearRecords].
func (s *Server) SetCAA(name, tag, value string) { s.dns.setCAA(name, tag, value) }

// SetServFail makes the shared DNS server answer every query for name with
// SERVFAIL, until [Server.ClearRecords].
func (s *Server) SetServFail(name string) { s.dns.srv.AddDNSServFailRecord(dns.Fqdn(name)) }

// ClearRecords removes every record set for name in the shared DNS server
// (by SetAddrs, SetCAA, SetServFail or SetTXT), so that it resolves to
// 127.0.0.1 again.
func (s *Server) ClearRecords(name string) { s.dns.clearRecords(name) }

// Orders returns the number of newOrder requests received, whether the CA
// accepted them or refused them (FailNewOrders, bad nonce, bad request).
func (s *Server) Orders() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.orders)
}

// OrdersWithReplaces returns the number of newOrder requests whose payload
// had a non-empty "replaces" field (ARI renewals).
func (s *Server) OrdersWithReplaces() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replaces
}

// OrderIdentifiers returns the identifier values of each newOrder request,
// in arrival order; the entry of a request whose payload could not be read
// is nil.
func (s *Server) OrderIdentifiers() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]string, len(s.orders))
	for i, ids := range s.orders {
		out[i] = clone(ids)
	}
	return out
}

// FailNewOrders makes the next n newOrder requests fail with an ACME problem
// of the given HTTP status: 429 gives type
// urn:ietf:params:acme:error:rateLimited, any other status
// urn:ietf:params:acme:error:serverInternal. A positive retryAfter is sent
// as a Retry-After header (whole seconds, rounded up). n <= 0 cancels
// failures still pending.
func (s *Server) FailNewOrders(n int, status int, retryAfter time.Duration) {
	if status < 400 || status > 599 {
		status = http.StatusServiceUnavailable
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failLeft = max(n, 0)
	s.failStatus = status
	s.failRetry = retryAfter
}

// urlPath returns the path of an absolute URL, or "" if it does not parse.
func urlPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Path
}

// decodeJSON is json.Unmarshal with the error wrapped by what.
func decodeJSON(data []byte, v any, what string) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: decoding: %w", what, err)
	}
	return nil
}

func clone[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append([]T(nil), s...)
}
