package acme

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-acme/lego/v4/challenge/tlsalpn01"
)

// challengePath is where ACME CAs fetch HTTP-01 key authorizations.
const challengePath = "/.well-known/acme-challenge/"

// HTTPResponder answers HTTP-01 challenges for every order of the process
// from one listener, so concurrent orders share one port instead of each
// binding it. It is also an [http.Handler] that a server already listening on
// port 80 can mount. It is safe for concurrent use.
type HTTPResponder struct {
	mu     sync.RWMutex
	tokens map[string]string // token -> key authorization
	srv    *http.Server
	addr   string
}

// NewHTTPResponder returns a responder that is not listening; mount it as a
// handler or call [HTTPResponder.Listen].
func NewHTTPResponder() *HTTPResponder {
	return &HTTPResponder{tokens: make(map[string]string)}
}

var (
	sharedMu   sync.Mutex
	sharedHTTP = map[string]*HTTPResponder{}
	sharedTLS  = map[string]*TLSALPNResponder{}
)

// SharedHTTPResponder returns the process-wide responder listening on addr
// (":80" if empty), starting it on first use.
func SharedHTTPResponder(addr string) (*HTTPResponder, error) {
	if addr == "" {
		addr = ":80"
	}
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if r, ok := sharedHTTP[addr]; ok {
		return r, nil
	}
	r := NewHTTPResponder()
	if err := r.Listen(addr); err != nil {
		return nil, err
	}
	sharedHTTP[addr] = r
	return r, nil
}

// Listen starts serving challenges on addr in the background.
func (r *HTTPResponder) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http-01 responder %s: %w", addr, err)
	}
	r.mu.Lock()
	r.addr = ln.Addr().String()
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	srv := r.srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
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
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}

// ServeHTTP answers GET /.well-known/acme-challenge/TOKEN with the key
// authorization of a pending challenge, and 404 for anything else.
func (r *HTTPResponder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	token, ok := strings.CutPrefix(req.URL.Path, challengePath)
	if !ok || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
		http.NotFound(w, req)
		return
	}
	r.mu.RLock()
	ka, ok := r.tokens[token]
	r.mu.RUnlock()
	if !ok {
		http.NotFound(w, req)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(ka))
}

// Present makes the responder answer token (lego's challenge.Provider).
func (r *HTTPResponder) Present(domain, token, keyAuth string) error {
	r.mu.Lock()
	r.tokens[token] = keyAuth
	r.mu.Unlock()
	return nil
}

// CleanUp forgets token (lego's challenge.Provider).
func (r *HTTPResponder) CleanUp(domain, token, keyAuth string) error {
	r.mu.Lock()
	delete(r.tokens, token)
	r.mu.Unlock()
	return nil
}

// TLSALPNResponder answers TLS-ALPN-01 challenges for every order of the
// process from one listener. It is safe for concurrent use.
type TLSALPNResponder struct {
	mu    sync.RWMutex
	certs map[string]*tls.Certificate // domain -> challenge certificate
	ln    net.Listener
}

// SharedTLSALPNResponder returns the process-wide TLS-ALPN-01 responder on
// addr (":443" if empty), starting it on first use.
func SharedTLSALPNResponder(addr string) (*TLSALPNResponder, error) {
	if addr == "" {
		addr = ":443"
	}
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if r, ok := sharedTLS[addr]; ok {
		return r, nil
	}
	r := &TLSALPNResponder{certs: make(map[string]*tls.Certificate)}
	conf := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{tlsalpn01.ACMETLS1Protocol},
		GetCertificate: r.GetCertificate,
	}
	ln, err := tls.Listen("tcp", addr, conf)
	if err != nil {
		return nil, fmt.Errorf("tls-alpn-01 responder %s: %w", addr, err)
	}
	r.ln = ln
	go r.serve()
	sharedTLS[addr] = r
	return r, nil
}

func (r *TLSALPNResponder) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_ = c.(*tls.Conn).Handshake()
		}()
	}
}

// GetCertificate returns the challenge certificate for the ClientHello's
// server name when it asks for the acme-tls/1 protocol.
func (r *TLSALPNResponder) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.RLock()
	c, ok := r.certs[strings.ToLower(hello.ServerName)]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("tls-alpn-01: no challenge pending for %q", hello.ServerName)
	}
	return c, nil
}

// Present installs the challenge certificate for domain (lego's challenge.Provider).
func (r *TLSALPNResponder) Present(domain, token, keyAuth string) error {
	cert, err := tlsalpn01.ChallengeCert(domain, keyAuth)
	if err != nil {
		return fmt.Errorf("%s: tls-alpn-01 certificate: %w", domain, err)
	}
	r.mu.Lock()
	r.certs[strings.ToLower(domain)] = cert
	r.mu.Unlock()
	return nil
}

// CleanUp removes the challenge certificate for domain (lego's challenge.Provider).
func (r *TLSALPNResponder) CleanUp(domain, token, keyAuth string) error {
	r.mu.Lock()
	delete(r.certs, strings.ToLower(domain))
	r.mu.Unlock()
	return nil
}

// Close stops the listener.
func (r *TLSALPNResponder) Close() error { return r.ln.Close() }
