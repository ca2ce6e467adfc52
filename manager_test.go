package certctl_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certctl/certctl"
	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// counting counts the requests a client makes.
type counting struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// facadeEnv is a Pebble CA and a store path for Managers built only from the
// facade.
type facadeEnv struct {
	srv   *acmetest.Server
	path  string
	roots *x509.CertPool
	reqs  *counting
	hc    *http.Client
}

func newFacadeEnv(t *testing.T, opts acmetest.Options) *facadeEnv {
	t.Helper()
	srv := acmetest.StartT(t, opts)
	roots, err := srv.Roots()
	if err != nil {
		t.Fatal(err)
	}
	hc := srv.HTTPClient()
	cnt := &counting{next: hc.Transport}
	hc.Transport = cnt
	return &facadeEnv{srv: srv, path: filepath.Join(t.TempDir(), "certctl.db"), roots: roots, reqs: cnt, hc: hc}
}

// config is the facade configuration of the tests: the env's CA and store.
func (e *facadeEnv) config() *certctl.Config {
	return &certctl.Config{Store: e.path, Directory: e.srv.DirectoryURL(), Email: "ops@example.com", AgreeTOS: true,
		HTTPClient: e.hc, Schedule: "@every 1h"}
}

// tlsAddr is where Pebble dials tls-alpn-01 validations.
func (e *facadeEnv) tlsAddr() string { return "127.0.0.1:" + strconv.Itoa(e.srv.TLSPort()) }

// serveTLS serves m's TLSConfig on addr until the test ends, and returns the
// address.
func serveTLS(t *testing.T, m *certctl.Manager, addr string) string {
	t.Helper()
	a, stop := serveTLSStop(t, m, addr)
	t.Cleanup(stop)
	return a
}

// serveTLSStop is serveTLS that returns a function stopping the server.
func serveTLSStop(t *testing.T, m *certctl.Manager, addr string) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{TLSConfig: m.TLSConfig(), ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.TLS.ServerName) })}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ServeTLS(ln, "", "") }()
	var once sync.Once
	return ln.Addr().String(), func() { once.Do(func() { _ = srv.Close(); <-done }) }
}

// handshake makes a TLS handshake for name at addr, verified against
// Pebble's root, and returns the serial served (lower-case hex).
func (e *facadeEnv) handshake(addr, name string) (string, error) {
	d := &net.Dialer{Timeout: 30 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: name, RootCAs: e.roots})
	if err != nil {
		return "", err
	}
	defer c.Close()
	return fmt.Sprintf("%x", c.ConnectionState().PeerCertificates[0].SerialNumber.Bytes()), nil
}

func mustHandshake(t *testing.T, e *facadeEnv, addr, name string) string {
	t.Helper()
	s, err := e.handshake(addr, name)
	if err != nil {
		t.Fatalf("handshake for %s: %v", name, err)
	}
	return s
}

// events collects a Manager's events on a channel.
func events(cfg *certctl.Config, buf int) <-chan certctl.Event {
	ch := make(chan certctl.Event, buf)
	cfg.OnEvent = func(e certctl.Event) {
		select {
		case ch <- e:
		default:
		}
	}
	return ch
}

// A server built only from the facade obtains certificates for two names at
// start with tls-alpn-01 answered by its own TLSConfig on the serving
// listener, serves them verified against Pebble's root, and renews them
// (30-second certificates) under load without one failed handshake.
//
// Pebble's renewal window (ARI) for such short certificates spans their
// whole life, and certctl renews at a random point of it, up to the last
// tenth (3 s here). With 6- or 15-second certificates that margin was too
// small on a loaded test machine (the manager's scans are at least a second
// apart, and an order under -race takes up to a second): the renewal came
// after the expiry, and handshakes met an expired certificate.
func TestManager_ManageServeRenew_NoFailedHandshake(t *testing.T) {
	e := newFacadeEnv(t, acmetest.Options{Validity: 30 * time.Second})
	cfg := e.config()
	evs := events(cfg, 256)
	m, err := certctl.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	addr := serveTLS(t, m, e.tlsAddr()) // the CA's tls-alpn-01 validations come here
	names := []string{"a.example", "b.example"}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := m.Manage(ctx, names...); err != nil {
		t.Fatalf("Manage: %v", err)
	}
	first := map[string]string{}
	for _, n := range names {
		first[n] = mustHandshake(t, e, addr, n)
	}

	// Load: handshakes for both names, each verified, until every name was
	// renewed.
	stop := make(chan struct{})
	var failed, ok atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := e.handshake(addr, names[i%2]); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				} else {
					ok.Add(1)
				}
			}
		})
	}
	renewed := map[string]int{}
	for renewed[names[0]] < 1 || renewed[names[1]] < 1 {
		select {
		case ev := <-evs:
			switch ev.Type {
			case certctl.EventFailed:
				t.Fatalf("%s: %v", ev.Name, ev.Err)
			case certctl.EventRenewed:
				renewed[ev.Name]++
			}
		case <-ctx.Done():
			t.Fatalf("renewals: %v after %v", renewed, ctx.Err())
		}
	}
	close(stop)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d handshakes failed under renewal, first: %v", n, n+ok.Load(), firstErr.Load())
	}
	for _, n := range names {
		if s := mustHandshake(t, e, addr, n); s == first[n] {
			t.Fatalf("%s: still serving the first serial %s after renewals", n, s)
		}
	}
	t.Logf("%d handshakes, none failed", ok.Load())
}

// After a restart the certificates are loaded from the store and served
// with no request to the CA at all.
func TestManager_Restart_LoadsWithoutCARequest(t *testing.T) {
	e := newFacadeEnv(t, acmetest.Options{})
	names := []string{"r1.example", "r2.example"}
	cfg := e.config()
	scans := make(chan renew.Event, 64)
	m, err := certctl.NewWithRenewHook(cfg, func(ev renew.Event) {
		if ev.Type == renew.EventScan {
			select {
			case scans <- ev:
			default:
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, m, e.tlsAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := m.Manage(ctx, names...); err != nil {
		t.Fatal(err)
	}
	if e.srv.Orders() != 2 {
		t.Fatalf("orders = %d, want 2", e.srv.Orders())
	}
	serials := map[string]string{}
	for _, n := range names {
		serials[n] = mustHandshake(t, e, addr, n)
	}
	// The renewal manager asks the CA for each new certificate's renewal
	// window (ARI) once; wait for it, so that the restart owes the CA nothing.
	db, err := store.Open(e.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for fetched := false; !fetched; {
		select {
		case <-scans:
		case <-ctx.Done():
			t.Fatal("no scan fetched the renewal windows")
		}
		fetched = true
		for _, n := range names {
			c, err := db.Get(ctx, n)
			fetched = fetched && err == nil && !c.ARI.Fetched.IsZero()
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	before, orders := e.reqs.n.Load(), e.srv.Orders()
	m2, err := certctl.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	addr2 := serveTLS(t, m2, "127.0.0.1:0")
	if err := m2.Manage(ctx, names...); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if s := mustHandshake(t, e, addr2, n); s != serials[n] {
			t.Fatalf("%s: serial %s after restart, want the stored %s", n, s, serials[n])
		}
	}
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}
	if got := e.reqs.n.Load() - before; got != 0 || e.srv.Orders() != orders {
		t.Fatalf("restart made %d requests to the CA (%d orders), want 0", got, e.srv.Orders()-orders)
	}
}

// HTTPS serves a handler on HTTPS with certificates obtained at start, and
// on HTTP answers challenges and redirects the rest.
func TestHTTPS_ServesAndRedirects(t *testing.T) {
	e := newFacadeEnv(t, acmetest.Options{})
	cfg := e.config()
	cfg.Challenge = "http-01"
	cfg.HTTPAddr = "127.0.0.1:" + strconv.Itoa(e.srv.HTTPPort())
	cfg.HTTPSAddr = "127.0.0.1:0"
	evs := events(cfg, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- certctl.HTTPS(ctx, cfg, []string{"h.example"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "hello "+r.TLS.ServerName)
		}))
	}()
	select {
	case ev := <-evs:
		if ev.Type != certctl.EventObtained || ev.Name != "h.example" {
			t.Fatalf("event %+v, want obtained h.example", ev)
		}
	case err := <-done:
		t.Fatalf("HTTPS returned early: %v", err)
	}
	// The redirect names the HTTPS port, which is where the test connects.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", "http://"+cfg.HTTPAddr+"/path?q=1", nil)
	req.Host = "h.example"
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusMovedPermanently {
		t.Fatalf("HTTP answered %d, want 301", resp.StatusCode)
	}
	u, _ := http.NewRequest("GET", loc, nil)
	if u.URL.Scheme != "https" || u.URL.Hostname() != "h.example" || u.URL.RequestURI() != "/path?q=1" {
		t.Fatalf("redirect to %q", loc)
	}
	httpsAddr := "127.0.0.1:" + u.URL.Port()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.roots},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", httpsAddr)
		}}}
	resp, err = client.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS.PeerCertificates[0].Subject.CommonName+resp.TLS.PeerCertificates[0].DNSNames[0] == "" {
		t.Fatalf("HTTPS answered %d", resp.StatusCode)
	}
	client.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("HTTPS: %v", err)
	}
}

// HTTPHandler answers the HTTP-01 tokens another node of the fleet
// published in the shared store: node A orders with its own responder on a
// port the CA never dials, and the CA's request reaches node B, a Manager.
func TestManager_HTTPHandler_AnswersFleetTokens(t *testing.T) {
	e := newFacadeEnv(t, acmetest.Options{})
	m, err := certctl.New(e.config())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(e.srv.HTTPPort()))
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: m.HTTPHandler(nil), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = hs.Serve(ln) }()
	defer func() { _ = hs.Close(); <-done }()

	db, err := store.Open(e.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	nodeA := &renew.Service{Store: db, Solvers: renew.Solvers{Shared: db},
		Issuers: &renew.Accounts{Store: db, HTTPClient: e.srv.HTTPClient(), AgreeTOS: true}}
	r := nodeA.Issue(t.Context(), &store.Certificate{Name: "fleet-http.example", Domains: []string{"fleet-http.example"},
		KeyType: "ec256", Directory: e.srv.DirectoryURL(),
		Challenge: store.Challenge{Type: "http-01", HTTPAddr: "127.0.0.1:0"}}, false)
	if r.Err != nil || r.Action != renew.ActionIssued {
		t.Fatalf("node A's order through node B's HTTPHandler: %s %v", r.Action, r.Err)
	}
	resp, err := http.Get("http://" + ln.Addr().String() + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("non-challenge request with a nil fallback: %d, want 404", resp.StatusCode)
	}
}
