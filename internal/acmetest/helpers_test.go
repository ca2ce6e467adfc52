package acmetest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-acme/lego/v4/certcrypto"
	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/lego"
	legolog "github.com/go-acme/lego/v4/log"
	"github.com/go-acme/lego/v4/registration"
)

func TestMain(m *testing.M) {
	legolog.Logger = stdlog.New(io.Discard, "", 0)
	os.Exit(m.Run())
}

// user is a lego ACME account.
type user struct {
	key crypto.PrivateKey
	reg *registration.Resource
}

func (u *user) GetEmail() string                        { return "" }
func (u *user) GetRegistration() *registration.Resource { return u.reg }
func (u *user) GetPrivateKey() crypto.PrivateKey        { return u.key }

// http01Responder serves http-01 tokens on 127.0.0.1:port for as long as the
// test runs; it is lego's HTTP-01 provider.
type http01Responder struct {
	mu     sync.Mutex
	tokens map[string]string
}

func startHTTP01(tb testing.TB, port int) *http01Responder {
	tb.Helper()
	r := &http01Responder{tokens: make(map[string]string)}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		tb.Fatalf("http-01 responder: %v", err)
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	tb.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return r
}

func (r *http01Responder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	token, ok := strings.CutPrefix(req.URL.Path, "/.well-known/acme-challenge/")
	r.mu.Lock()
	keyAuth, found := r.tokens[token]
	r.mu.Unlock()
	if !ok || !found {
		http.NotFound(w, req)
		return
	}
	_, _ = io.WriteString(w, keyAuth)
}

func (r *http01Responder) Present(_, token, keyAuth string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tokens[token] = keyAuth
	return nil
}

func (r *http01Responder) CleanUp(_, token, _ string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.tokens, token)
	return nil
}

// nopProvider solves nothing (for AlwaysValid servers).
type nopProvider struct{}

func (nopProvider) Present(_, _, _ string) error { return nil }
func (nopProvider) CleanUp(_, _, _ string) error { return nil }

// newClient returns a lego client with a registered account on s, solving
// http-01 through r.
func newClient(tb testing.TB, s *Server, r *http01Responder) *lego.Client {
	tb.Helper()
	c := newUnregisteredClient(tb, s)
	if r != nil {
		if err := c.Challenge.SetHTTP01Provider(r); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := c.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true}); err != nil {
		tb.Fatalf("registering: %v", err)
	}
	return c
}

func newUnregisteredClient(tb testing.TB, s *Server) *lego.Client {
	tb.Helper()
	return newClientWith(tb, s, s.HTTPClient())
}

func newClientWith(tb testing.TB, s *Server, hc *http.Client) *lego.Client {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := lego.NewConfig(&user{key: key})
	cfg.CADirURL = s.DirectoryURL()
	cfg.HTTPClient = hc
	cfg.Certificate.Timeout = 6 * time.Second
	cfg.Certificate.KeyType = certcrypto.EC256 // RSA key generation would dominate the timings
	c, err := lego.NewClient(cfg)
	if err != nil {
		tb.Fatalf("lego client: %v", err)
	}
	return c
}

func obtain(tb testing.TB, c *lego.Client, req certificate.ObtainRequest) *certificate.Resource {
	tb.Helper()
	if !req.Bundle {
		req.Bundle = true
	}
	res, err := c.Certificate.Obtain(req)
	if err != nil {
		tb.Fatalf("obtaining %v: %v", req.Domains, err)
	}
	return res
}

// parseChain returns the certificates of a PEM bundle, leaf first.
func parseChain(tb testing.TB, bundle []byte) []*x509.Certificate {
	tb.Helper()
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, bundle = pem.Decode(bundle)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			tb.Fatal(err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		tb.Fatal("no certificate in bundle")
	}
	return certs
}

// verifyChain checks that bundle chains to s's roots for name.
func verifyChain(s *Server, bundle []byte, name string) error {
	roots, err := s.Roots()
	if err != nil {
		return err
	}
	inter := x509.NewCertPool()
	var leaf *x509.Certificate
	for rest := bundle; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return err
		}
		if leaf == nil {
			leaf = c
		} else {
			inter.AddCert(c)
		}
	}
	if leaf == nil {
		return errors.New("empty bundle")
	}
	_, err = leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter})
	return err
}

// requestCounter is an http.RoundTripper counting requests by method and
// path prefix ("POST /chalZ/").
type requestCounter struct {
	rt http.RoundTripper
	mu sync.Mutex
	n  map[string]int
}

func countRequests(s *Server) (*http.Client, *requestCounter) {
	hc := s.HTTPClient()
	rc := &requestCounter{rt: hc.Transport, n: make(map[string]int)}
	hc.Transport = rc
	return hc, rc
}

func (rc *requestCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	p := r.URL.Path
	if i := strings.Index(p[1:], "/"); i >= 0 {
		p = p[:i+2]
	}
	rc.mu.Lock()
	rc.n[r.Method+" "+p]++
	rc.mu.Unlock()
	return rc.rt.RoundTrip(r)
}

func (rc *requestCounter) count(key string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.n[key]
}

// leafSerialHex returns the serial of the first certificate of a PEM bundle
// as Pebble indexes it.
func leafSerialHex(tb testing.TB, bundle []byte) string {
	tb.Helper()
	return hex.EncodeToString(parseChain(tb, bundle)[0].SerialNumber.Bytes())
}
