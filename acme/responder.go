package acme

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-acme/lego/v4/challenge/tlsalpn01"

	"github.com/certctl/certctl/internal/httplimit"
	"github.com/certctl/certctl/internal/portowner"
)

// responderLimits bound the connections of the HTTP-01 responder (a
// variable for tests): it listens on every interface during an order, so
// an idle or slow client is cut off after a few seconds and at most
// MaxConns are served at once.
var responderLimits = httplimit.Responder

// challengePath is where ACME CAs fetch HTTP-01 key authorizations.
const challengePath = "/.well-known/acme-challenge/"

// HTTPResponder answers HTTP-01 challenges for every order of the process
// from one listener, so concurrent orders share one port instead of each
// binding it. It is also an [http.Handler] that a server already listening on
// port 80 can mount. Given a [ChallengeStore] ([HTTPResponder.Share]) it
// answers for a whole fleet: the tokens it presents are published there, and
// a token it does not hold is looked up there. It is safe for concurrent use.
type HTTPResponder struct {
	mu     sync.RWMutex
	tokens map[string]string // token -> key authorization
	fleet  fleet             // set by Share
	// attached are the stores of the orders using the responder (forOrder).
	attached attached
	// served are the tokens answered from the fleet's store, which other
	// processes' orders may still depend on (see lingerHTTP); closing is set
	// once the responder decided to close, after which it answers no more
	// tokens from the store.
	served  map[string]time.Time // token -> when last answered
	closing bool
	srv     *http.Server
	ln      net.Listener
	addr    string
}

// NewHTTPResponder returns a responder that is not listening; mount it as a
// handler or call [HTTPResponder.Listen].
func NewHTTPResponder() *HTTPResponder {
	return &HTTPResponder{tokens: make(map[string]string)}
}

var (
	sharedMu   sync.Mutex
	sharedHTTP = map[string]*sharedEntry[*HTTPResponder]{}
	sharedTLS  = map[string]*sharedEntry[*TLSALPNResponder]{}
)

// sharedEntry is a process-wide responder and how many orders use it.
type sharedEntry[T any] struct {
	r    T
	refs int
	// lingering is set while the responder stays up with no order of this
	// process using it, for other processes' orders (see lingerHTTP).
	lingering bool
}

// acquireOpts are the variations of acquire.
type acquireOpts[T any] struct {
	// noWait makes acquire return at once, with an error wrapping
	// errHolderWaitable, where it would wait for another certctl process
	// to release the port.
	noWait bool
	// keep, if set, is asked (under sharedMu, without I/O) when no order of
	// the process uses the responder whether to keep it up for other
	// processes' orders; answering false commits the responder to closing.
	// prune, called without locks while it lingers, drops what it no longer
	// needs to keep it up for. See lingerHTTP.
	keep  func(T) bool
	prune func(T)
}

// bindWait is how long acquiring a shared responder waits for its port to be
// released by another certctl process (a daemon and the CLI validating at
// once). A variable for tests.
var bindWait = 60 * time.Second

// portRetry is how often acquire tries to bind a port it waits for: a
// certctl holder releases it as soon as its orders (and those it answers
// for, see overlap.go) are done, and binding is cheap.
const portRetry = 25 * time.Millisecond

// AcquireHTTPResponder returns the process-wide HTTP-01 responder on addr
// (":80" if empty), listening while at least one caller holds it: all
// orders of a process share one listener, and the port is free for other
// processes when none is running. Call release when done.
//
// If another certctl process holds the port, or the holder cannot be told,
// it waits until the port is released, ctx ends or a minute passes; if a
// program known not to be certctl holds it (a web server), waiting cannot
// help and it fails at once. Either failure is a [*PortBusyError]. A port
// the process may not bind fails with [ErrPortPrivileged].
func AcquireHTTPResponder(ctx context.Context, addr string) (r *HTTPResponder, release func(), err error) {
	if addr == "" {
		addr = ":80"
	}
	return acquireHTTP(ctx, addr, false)
}

// acquireHTTP is AcquireHTTPResponder; with noWait it fails with an error
// wrapping errHolderWaitable where it would wait for another certctl
// process.
func acquireHTTP(ctx context.Context, addr string, noWait bool) (*HTTPResponder, func(), error) {
	return acquire(ctx, sharedHTTP, addr, func() (*HTTPResponder, error) {
		r := NewHTTPResponder()
		return r, r.Listen(addr)
	}, func(r *HTTPResponder) { _ = r.Close() }, acquireOpts[*HTTPResponder]{noWait: noWait, keep: (*HTTPResponder).keepForFleet, prune: (*HTTPResponder).pruneServed})
}

// AcquireTLSALPNResponder is [AcquireHTTPResponder] for TLS-ALPN-01 (":443"
// if addr is empty).
func AcquireTLSALPNResponder(ctx context.Context, addr string) (r *TLSALPNResponder, release func(), err error) {
	if addr == "" {
		addr = ":443"
	}
	return acquire(ctx, sharedTLS, addr, func() (*TLSALPNResponder, error) {
		r := NewTLSALPNResponder()
		return r, r.listen(addr)
	}, func(r *TLSALPNResponder) { _ = r.Close() }, acquireOpts[*TLSALPNResponder]{})
}

// portBusyHook, if set, is called each time acquire finds its port held by
// someone it may wait for and starts waiting: tests release the port on that
// event.
var portBusyHook atomic.Pointer[func(addr string)]

func acquire[T any](ctx context.Context, m map[string]*sharedEntry[T], addr string, start func() (T, error), stop func(T), opts acquireOpts[T]) (T, func(), error) {
	deadline := time.Now().Add(bindWait)
	var busy *PortBusyError // the holder, once the port was found busy
	for {
		sharedMu.Lock()
		e, ok := m[addr]
		if !ok {
			r, err := start()
			if err != nil {
				shared := sharedHolds(addr)
				sharedMu.Unlock()
				var zero T
				if !errors.Is(err, syscall.EADDRINUSE) {
					return zero, nil, bindError(addr, err)
				}
				// Look the holder up once, and again for the error when
				// waiting ends.
				timedOut := time.Now().After(deadline)
				if busy == nil || timedOut {
					var wait bool
					busy, wait = portHolder(addr, err, shared)
					if !wait || timedOut {
						return zero, nil, busy
					}
				}
				if opts.noWait {
					return zero, nil, fmt.Errorf("%w: %w", errHolderWaitable, busy)
				}
				if f := portBusyHook.Load(); f != nil {
					(*f)(addr)
				}
				select {
				case <-ctx.Done():
					return zero, nil, fmt.Errorf("%w (waiting: %v)", busy, ctx.Err())
				case <-time.After(portRetry):
				}
				continue
			}
			e = &sharedEntry[T]{r: r}
			m[addr] = e
		}
		e.refs++
		sharedMu.Unlock()
		var once sync.Once
		return e.r, func() {
			once.Do(func() {
				sharedMu.Lock()
				defer sharedMu.Unlock()
				e.refs--
				if e.refs > 0 || e.lingering {
					return
				}
				if opts.keep != nil && opts.keep(e.r) {
					e.lingering = true
					lingerWG.Add(1)
					go linger(m, addr, e, stop, opts)
					return
				}
				delete(m, addr)
				stop(e.r)
			})
		}, nil
	}
}

// sharedHolds reports whether one of the process's shared responders
// listens on addr. The caller holds sharedMu.
func sharedHolds(addr string) bool {
	_, inHTTP := sharedHTTP[addr]
	_, inTLS := sharedTLS[addr]
	return inHTTP || inTLS
}

// portHolder describes who holds addr after binding it failed with err
// (EADDRINUSE), and whether waiting for the port may help: when the holder
// is, or may be, another certctl process, which releases the port once its
// orders end. This process holding it other than through a shared responder
// (shared is false) is some other code of the program, not certctl's.
func portHolder(addr string, err error, shared bool) (busy *PortBusyError, wait bool) {
	busy = &PortBusyError{Addr: addr, Err: err}
	pid, name, ok := portowner.Lookup(addr)
	if !ok {
		return busy, true
	}
	busy.PID, busy.Process = pid, name
	if pid == os.Getpid() {
		return busy, shared
	}
	return busy, name == "certctl" || portowner.SameExecutable(pid)
}

// bindError returns err from binding addr, marked with [ErrPortPrivileged]
// if the OS refused it for lack of privilege.
func bindError(addr string, err error) error {
	if !errors.Is(err, syscall.EACCES) && !errors.Is(err, syscall.EPERM) {
		return err
	}
	port := addr
	if _, p, e := net.SplitHostPort(addr); e == nil {
		port = p
	}
	return fmt.Errorf("no permission to bind port %s: %w: %w", port, ErrPortPrivileged, err)
}

// Share makes r answer for a fleet through cs: Present publishes each token
// there (for [ChallengeTTL]), CleanUp retracts it, and ServeHTTP looks up
// there the tokens that other nodes presented. Failures of retracting and
// looking up are logged to log (nil discards). A nil cs makes r answer only
// its own tokens again.
func (r *HTTPResponder) Share(cs ChallengeStore, log *slog.Logger) {
	r.mu.Lock()
	r.fleet = fleet{cs, log}
	r.mu.Unlock()
}

// Listen starts serving challenges on addr in the background, cutting off
// clients that are idle or slow for a few seconds and serving at most 128
// connections at once.
func (r *HTTPResponder) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http-01 responder %s: %w", addr, err)
	}
	r.mu.Lock()
	r.addr = ln.Addr().String()
	r.ln = ln
	r.closing = false
	r.srv = httplimit.Server(r, responderLimits)
	srv := r.srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(httplimit.Listener(ln, responderLimits)) }()
	return nil
}

// Addr returns the address the responder listens on ("" if none).
func (r *HTTPResponder) Addr() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.addr
}

// Close stops the listener started by Listen.
func (r *HTTPResponder) Close() error {
	r.mu.Lock()
	srv, ln := r.srv, r.ln
	if srv != nil {
		r.closing = true
	}
	r.srv, r.ln, r.addr = nil, nil, ""
	r.mu.Unlock()
	if srv == nil {
		return nil
	}
	// Close the listener here, so the port is free when Close returns even if
	// Serve has not started yet; Shutdown then closes it again when Serve
	// tracks it, which is not an error.
	_ = ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("http-01 responder: closing: %w", err)
	}
	return nil
}

// ServeHTTP answers GET /.well-known/acme-challenge/TOKEN with the key
// authorization of a pending challenge, and 404 for anything else. A token
// this responder does not hold is looked up in its fleet's store (see
// [HTTPResponder.Share]), within two seconds, every time: nothing is cached.
func (r *HTTPResponder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	token, ok := strings.CutPrefix(req.URL.Path, challengePath)
	if !ok || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
		http.NotFound(w, req)
		return
	}
	r.mu.RLock()
	ka, ok := r.tokens[token]
	fleets := r.attached.lookupSet(r.fleet)
	r.mu.RUnlock()
	if !ok && validToken(token) {
		ka = lookupAny(req.Context(), fleets, HTTP01, token)
		ok = ka != "" && r.servedFromFleet(token)
	}
	if !ok {
		http.NotFound(w, req)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(ka))
}

// Present makes the responder answer token (lego's challenge.Provider), and
// publishes it to the fleet's store if it has one.
func (r *HTTPResponder) Present(domain, token, keyAuth string) error {
	addr := r.hold(token, keyAuth)
	r.mu.RLock()
	f := r.fleet
	r.mu.RUnlock()
	f.logger().Debug("http-01 token presented", "domain", domain, "addr", addr)
	return f.publish(HTTP01, token, keyAuth)
}

// hold makes r answer token with keyAuth, and returns r's address.
func (r *HTTPResponder) hold(token, keyAuth string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tokens[token] = keyAuth
	return r.addr
}

// drop makes r stop answering token.
func (r *HTTPResponder) drop(token string) {
	r.mu.Lock()
	delete(r.tokens, token)
	r.mu.Unlock()
}

// CleanUp forgets token (lego's challenge.Provider), and retracts it from the
// fleet's store if it has one.
func (r *HTTPResponder) CleanUp(domain, token, keyAuth string) error {
	r.drop(token)
	r.mu.RLock()
	f := r.fleet
	r.mu.RUnlock()
	f.retract(HTTP01, token, keyAuth)
	return nil
}

// TLSALPNResponder answers TLS-ALPN-01 challenges for every order of the
// process from one listener. Given a [ChallengeStore]
// ([TLSALPNResponder.Share]) it answers for a whole fleet, like
// [HTTPResponder]: another node builds the challenge certificate from the
// published key authorization. It is safe for concurrent use.
type TLSALPNResponder struct {
	mu    sync.RWMutex
	certs map[string]*tls.Certificate // domain -> challenge certificate
	fleet fleet                       // set by Share
	// attached are the stores of the orders using the responder (forOrder).
	attached attached
	ln       net.Listener
	conns    map[net.Conn]struct{} // handshakes in progress; nil when closed
	wg       sync.WaitGroup        // the accept loop and the handshakes
}

// NewTLSALPNResponder returns a responder that is not listening: use its
// GetCertificate in a server's tls.Config for handshakes that
// [IsTLSALPNChallenge] recognises (and list [ALPNProto] in its NextProtos).
func NewTLSALPNResponder() *TLSALPNResponder {
	return &TLSALPNResponder{certs: make(map[string]*tls.Certificate)}
}

// Share makes r answer for a fleet through cs, as [HTTPResponder.Share]
// does: Present publishes the key authorization under the domain, CleanUp
// retracts it, and GetCertificate builds the challenge certificate of a
// domain it does not hold from the one published there.
func (r *TLSALPNResponder) Share(cs ChallengeStore, log *slog.Logger) {
	r.mu.Lock()
	r.fleet = fleet{cs, log}
	r.mu.Unlock()
}

func (r *TLSALPNResponder) listen(addr string) error {
	conf := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{tlsalpn01.ACMETLS1Protocol},
		GetCertificate: r.GetCertificate,
	}
	raw, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("tls-alpn-01 responder %s: %w", addr, err)
	}
	ln := tls.NewListener(httplimit.Listener(raw, responderLimits), conf)
	r.mu.Lock()
	r.ln = ln
	r.conns = make(map[net.Conn]struct{})
	r.mu.Unlock()
	r.wg.Add(1)
	go r.serve(ln)
	return nil
}

// serve completes the handshake of each connection ln accepts, within the
// responder's read limit, and closes it: a validation needs nothing more.
func (r *TLSALPNResponder) serve(ln net.Listener) {
	defer r.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		r.mu.Lock()
		if r.conns == nil { // closed meanwhile
			r.mu.Unlock()
			_ = c.Close()
			return
		}
		r.conns[c] = struct{}{}
		r.wg.Add(1)
		r.mu.Unlock()
		go func() {
			defer r.wg.Done()
			_ = c.SetDeadline(time.Now().Add(responderLimits.Read))
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
			r.mu.Lock()
			delete(r.conns, c)
			r.mu.Unlock()
		}()
	}
}

// GetCertificate returns the challenge certificate for the ClientHello's
// server name, only to a validation handshake: one that offers the single
// protocol acme-tls/1 ([IsTLSALPNChallenge], RFC 8737 section 3); any
// other client gets an error, which fails its handshake. A name this
// responder holds no challenge for is looked up in its fleet's store (see
// [TLSALPNResponder.Share]), within two seconds and every time: nothing is
// cached.
func (r *TLSALPNResponder) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if !IsTLSALPNChallenge(hello) {
		return nil, fmt.Errorf("tls-alpn-01: %q: %w", hello.ServerName, ErrNotValidation)
	}
	name := lowerName(hello.ServerName)
	if ip, ok := reverseIP(name); ok {
		// RFC 8738 section 6: an IP address is validated with its
		// reverse-mapping name as the server name.
		name = ip
	}
	r.mu.RLock()
	c, ok := r.certs[name]
	fleets := r.attached.lookupSet(r.fleet)
	r.mu.RUnlock()
	if ok {
		return c, nil
	}
	if validDomain(name) || IsIP(name) {
		ctx := hello.Context()
		if ctx == nil { // a ClientHelloInfo made outside crypto/tls
			ctx = context.Background()
		}
		if ka := lookupAny(ctx, fleets, TLSALPN01, name); ka != "" {
			cert, err := tlsalpn01.ChallengeCert(name, ka)
			if err != nil {
				return nil, fmt.Errorf("%s: tls-alpn-01 certificate: %w", name, err)
			}
			return cert, nil
		}
	}
	return nil, fmt.Errorf("tls-alpn-01: no challenge pending for %q", hello.ServerName)
}

// Present installs the challenge certificate for domain (lego's
// challenge.Provider), and publishes its key authorization to the fleet's
// store if it has one.
func (r *TLSALPNResponder) Present(domain, token, keyAuth string) error {
	name, err := r.hold(domain, keyAuth)
	if err != nil {
		return err
	}
	r.mu.RLock()
	f := r.fleet
	r.mu.RUnlock()
	return f.publish(TLSALPN01, name, keyAuth)
}

// hold installs the challenge certificate for domain, and returns the name
// it is held under.
func (r *TLSALPNResponder) hold(domain, keyAuth string) (string, error) {
	cert, err := tlsalpn01.ChallengeCert(domain, keyAuth)
	if err != nil {
		return "", fmt.Errorf("%s: tls-alpn-01 certificate: %w", domain, err)
	}
	name := lowerName(domain)
	r.mu.Lock()
	r.certs[name] = cert
	r.mu.Unlock()
	return name, nil
}

// drop removes the challenge certificate for domain, and returns the name
// it was held under.
func (r *TLSALPNResponder) drop(domain string) string {
	name := lowerName(domain)
	r.mu.Lock()
	delete(r.certs, name)
	r.mu.Unlock()
	return name
}

// CleanUp removes the challenge certificate for domain (lego's
// challenge.Provider), and retracts it from the fleet's store if it has one.
func (r *TLSALPNResponder) CleanUp(domain, token, keyAuth string) error {
	name := r.drop(domain)
	r.mu.RLock()
	f := r.fleet
	r.mu.RUnlock()
	f.retract(TLSALPN01, name, keyAuth)
	return nil
}

// Close stops the listener, if it has one, closes the connections it
// accepted and returns once every goroutine it started has ended.
func (r *TLSALPNResponder) Close() error {
	r.mu.Lock()
	ln, conns := r.ln, r.conns
	r.ln, r.conns = nil, nil
	r.mu.Unlock()
	if ln == nil {
		return nil
	}
	err := ln.Close()
	for c := range conns {
		_ = c.Close()
	}
	r.wg.Wait()
	return err
}
