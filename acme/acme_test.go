package acme_test

import (
	"context"
	"crypto/x509"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/internal/acmetest"
)

// ca starts Pebble and registers an account.
func ca(t *testing.T, opts acmetest.Options) (*acmetest.Server, *acme.Client) {
	t.Helper()
	srv := acmetest.StartT(t, opts)
	cfg := acme.Config{Directory: srv.DirectoryURL(), HTTPClient: srv.HTTPClient()}
	acct, err := acme.Register(context.Background(), cfg, "ops@example.com", acme.RegisterOptions{AgreeTOS: true})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	if acct.URI == "" {
		t.Fatal("Register: no account URI")
	}
	cl, err := acme.NewClient(cfg, acct)
	if err != nil {
		t.Fatal(err)
	}
	return srv, cl
}

func httpAddr(srv *acmetest.Server) string { return "127.0.0.1:" + strconv.Itoa(srv.HTTPPort()) }

// verify checks cert against the CA's root and the names.
func verify(t *testing.T, srv *acmetest.Server, cert *acme.Certificate, names ...string) {
	t.Helper()
	if err := cert.Validate(names, time.Now()); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	roots, err := srv.Roots()
	if err != nil {
		t.Fatal(err)
	}
	inter := x509.NewCertPool()
	for _, c := range cert.Chain {
		inter.AddCert(c)
	}
	for _, n := range names {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: strings.Replace(n, "*", "x", 1)}); err != nil {
			t.Fatalf("leaf does not verify against Pebble's root for %s: %v", n, err)
		}
	}
}

func TestClient_Obtain_HTTP01SharedResponder(t *testing.T) {
	srv, cl := ca(t, acmetest.Options{})
	cert, err := cl.Obtain(context.Background(), acme.Request{
		Domains:   []string{"a.example", "www.a.example"},
		Challenge: acme.Challenge{Type: acme.HTTP01, HTTPAddr: httpAddr(srv)},
	})
	if err != nil {
		t.Fatalf("Obtain: %v", err)
	}
	verify(t, srv, cert, "a.example", "www.a.example")
	// One responder per address while in use; the port is released after.
	ctx := context.Background()
	r1, rel1, err := acme.AcquireHTTPResponder(ctx, httpAddr(srv))
	if err != nil {
		t.Fatal(err)
	}
	r2, rel2, err := acme.AcquireHTTPResponder(ctx, httpAddr(srv))
	if err != nil || r1 != r2 {
		t.Fatalf("second acquire: %v, same responder %v", err, r1 == r2)
	}
	rel1()
	if _, err := net.Listen("tcp", httpAddr(srv)); err == nil {
		t.Fatal("port released while still held")
	}
	rel2()
	ln, err := net.Listen("tcp", httpAddr(srv))
	if err != nil {
		t.Fatalf("port not released: %v", err)
	}
	ln.Close()
	// Held by another certctl process (the test binary run again: the same
	// executable), acquiring waits for the port: it is released once
	// acquiring found it busy.
	release := holdPortInChild(t, httpAddr(srv))
	var once sync.Once
	acme.OnPortBusy(t, func(string) { once.Do(release) })
	_, rel3, err := acme.AcquireHTTPResponder(ctx, httpAddr(srv))
	if err != nil {
		t.Fatalf("acquire did not wait for the port: %v", err)
	}
	rel3()
}

func TestClient_Obtain_KeyTypes(t *testing.T) {
	srv, cl := ca(t, acmetest.Options{})
	for _, kt := range []acme.KeyType{acme.EC384, acme.RSA2048} {
		cert, err := cl.Obtain(context.Background(), acme.Request{
			Domains: []string{"k.example"}, KeyType: kt,
			Challenge: acme.Challenge{HTTPAddr: httpAddr(srv)},
		})
		if err != nil {
			t.Fatalf("%s: %v", kt, err)
		}
		verify(t, srv, cert, "k.example")
		want := x509.ECDSA
		if kt == acme.RSA2048 {
			want = x509.RSA
		}
		if cert.Leaf.PublicKeyAlgorithm != want {
			t.Fatalf("%s: key algorithm %v", kt, cert.Leaf.PublicKeyAlgorithm)
		}
	}
}

func TestClient_Obtain_Webroot(t *testing.T) {
	srv, cl := ca(t, acmetest.Options{})
	root := t.TempDir()
	ln, err := net.Listen("tcp", httpAddr(srv))
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.FileServer(http.Dir(root))}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })

	cert, err := cl.Obtain(context.Background(), acme.Request{
		Domains:   []string{"web.example"},
		Challenge: acme.Challenge{Type: acme.HTTP01, Webroot: root},
	})
	if err != nil {
		t.Fatalf("Obtain: %v", err)
	}
	verify(t, srv, cert, "web.example")
	left, _ := os.ReadDir(filepath.Join(root, ".well-known", "acme-challenge"))
	if len(left) != 0 {
		t.Fatalf("webroot tokens not cleaned up: %d left", len(left))
	}
}

func TestClient_Obtain_DNS01WildcardAndApex(t *testing.T) {
	srv, cl := ca(t, acmetest.Options{})
	cert, err := cl.Obtain(context.Background(), acme.Request{
		Domains: []string{"*.wild.example", "wild.example"},
		Challenge: acme.Challenge{Type: acme.DNS01, DNS: srv.DNSProvider(),
			DNSResolvers: []string{srv.DNSAddr()}},
	})
	if err != nil {
		t.Fatalf("Obtain: %v", err)
	}
	verify(t, srv, cert, "*.wild.example", "wild.example")
	if cert.Leaf.VerifyHostname("a.wild.example") != nil || cert.Leaf.VerifyHostname("a.b.wild.example") == nil {
		t.Fatal("wildcard coverage wrong")
	}
}

func TestClient_Obtain_TLSALPN01(t *testing.T) {
	srv, cl := ca(t, acmetest.Options{})
	cert, err := cl.Obtain(context.Background(), acme.Request{
		Domains:   []string{"alpn.example"},
		Challenge: acme.Challenge{Type: acme.TLSALPN01, TLSAddr: "127.0.0.1:" + strconv.Itoa(srv.TLSPort())},
	})
	if err != nil {
		t.Fatalf("Obtain: %v", err)
	}
	verify(t, srv, cert, "alpn.example")
}

func TestClient_Revoke_CAReportsRevoked(t *testing.T) {
	srv, cl := ca(t, acmetest.Options{})
	ctx := context.Background()
	cert, err := cl.Obtain(ctx, acme.Request{Domains: []string{"rv.example"}, Challenge: acme.Challenge{HTTPAddr: httpAddr(srv)}})
	if err != nil {
		t.Fatal(err)
	}
	if st, _, err := srv.CertStatus(ctx, cert.Serial()); err != nil || st != "Valid" {
		t.Fatalf("status before revoke = %q, %v", st, err)
	}
	if err := cl.Revoke(ctx, cert.CertPEM, acme.RevocationReasons["keyCompromise"]); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	st, reason, err := srv.CertStatus(ctx, cert.Serial())
	if err != nil || st != "Revoked" || reason != 1 {
		t.Fatalf("status after revoke = %q reason %d, %v", st, reason, err)
	}
}

func TestClient_RenewalInfo_ReplacesSent(t *testing.T) {
	srv, cl := ca(t, acmetest.Options{})
	ctx := context.Background()
	ch := acme.Challenge{HTTPAddr: httpAddr(srv)}
	// Pebble cannot find the order of a certificate whose serial has its
	// top bit set (it keeps DER's leading zero in the ARI ID): use another.
	cert := obtainWithSerial(t, cl, ch, "ari.example", false)
	ri, err := cl.RenewalInfo(ctx, cert.Leaf)
	if err != nil {
		t.Fatalf("RenewalInfo: %v", err)
	}
	if !ri.Start.After(cert.Leaf.NotBefore) || !ri.End.Before(cert.Leaf.NotAfter) {
		t.Fatalf("window %v..%v outside validity %v..%v", ri.Start, ri.End, cert.Leaf.NotBefore, cert.Leaf.NotAfter)
	}
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := srv.SetRenewalInfo(ctx, cert.CertPEM, start, start.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	ri, err = cl.RenewalInfo(ctx, cert.Leaf)
	if err != nil || !ri.Start.Equal(start) {
		t.Fatalf("RenewalInfo after SetRenewalInfo = %+v, %v", ri, err)
	}
	before := srv.OrdersWithReplaces()
	next, err := cl.Obtain(ctx, acme.Request{Domains: []string{"ari.example"}, Challenge: ch, Replaces: cert.Leaf})
	if err != nil {
		t.Fatal(err)
	}
	if srv.OrdersWithReplaces() != before+1 {
		t.Fatalf("order did not carry replaces")
	}
	id, _ := acme.CertID(cert.Leaf)
	if next.Replaces != id {
		t.Fatalf("Replaces = %q, want %q", next.Replaces, id)
	}
}

func TestClient_Obtain_RateLimitedTyped(t *testing.T) {
	srv, cl := ca(t, acmetest.Options{})
	srv.FailNewOrders(1, http.StatusTooManyRequests, 90*time.Second)
	_, err := cl.Obtain(context.Background(), acme.Request{Domains: []string{"rl.example"}, Challenge: acme.Challenge{HTTPAddr: httpAddr(srv)}})
	var rl *acme.RateLimitedError
	if !errors.As(err, &rl) {
		t.Fatalf("error %v is not a RateLimitedError", err)
	}
	if rl.RetryAfter != 90*time.Second {
		t.Fatalf("RetryAfter = %v, want 90s", rl.RetryAfter)
	}
}

func TestClient_Obtain_ValidationFailedTyped(t *testing.T) {
	_, cl := ca(t, acmetest.Options{})
	// A responder that is not listening: the CA cannot fetch the token.
	_, err := cl.Obtain(context.Background(), acme.Request{Domains: []string{"nope.example"},
		Challenge: acme.Challenge{HTTPResponder: acme.NewHTTPResponder()}})
	var ve *acme.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v is not a ValidationError", err)
	}
	if ve.Domain != "nope.example" || ve.Detail == "" {
		t.Fatalf("ValidationError = %+v", ve)
	}
}

func TestRegister_UnreachableFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	_, err = acme.Register(context.Background(), acme.Config{Directory: "https://" + addr + "/dir"}, "", acme.RegisterOptions{AgreeTOS: true})
	var ue *acme.UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("error %v is not an UnreachableError", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestRegister_RequiresTOS(t *testing.T) {
	_, err := acme.Register(context.Background(), acme.Config{Directory: "https://127.0.0.1:1/dir"}, "", acme.RegisterOptions{})
	if !errors.Is(err, acme.ErrTOSNotAgreed) {
		t.Fatalf("error = %v", err)
	}
}

func TestRegister_EAB(t *testing.T) {
	srv := acmetest.StartT(t, acmetest.Options{RequireEAB: true, EABKeys: map[string]string{"kid-1": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"}})
	cfg := acme.Config{Directory: srv.DirectoryURL(), HTTPClient: srv.HTTPClient()}
	ctx := context.Background()
	if _, err := acme.Register(ctx, cfg, "", acme.RegisterOptions{AgreeTOS: true}); !errors.Is(err, acme.ErrEABRequired) {
		t.Fatalf("without EAB: %v", err)
	}
	a, err := acme.Register(ctx, cfg, "", acme.RegisterOptions{AgreeTOS: true, EABKeyID: "kid-1",
		EABHMAC: "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"})
	if err != nil || a.URI == "" {
		t.Fatalf("with EAB: %+v, %v", a, err)
	}
}

// obtainWithSerial obtains certificates until one's serial has its top bit
// set (highBit) or clear.
func obtainWithSerial(t *testing.T, cl *acme.Client, ch acme.Challenge, name string, highBit bool) *acme.Certificate {
	t.Helper()
	for i := 0; i < 40; i++ {
		cert, err := cl.Obtain(context.Background(), acme.Request{Domains: []string{name}, Challenge: ch})
		if err != nil {
			t.Fatal(err)
		}
		if (cert.Leaf.SerialNumber.Bytes()[0] >= 0x80) == highBit {
			return cert
		}
	}
	t.Fatal("no certificate with the wanted serial after 40 tries")
	return nil
}

// A CA that refuses an order carrying "replaces" (Pebble does for the rare
// serials whose DER encoding has a leading zero) still renews, without it.
func TestClient_Obtain_ReplacesRefusedFallsBack(t *testing.T) {
	srv, cl := ca(t, acmetest.Options{})
	ch := acme.Challenge{HTTPAddr: httpAddr(srv)}
	old := obtainWithSerial(t, cl, ch, "fb.example", false)
	orders, replaced := srv.Orders(), srv.OrdersWithReplaces()
	srv.FailNewOrders(1, http.StatusInternalServerError, 0)
	next, err := cl.Obtain(context.Background(), acme.Request{Domains: []string{"fb.example"}, Challenge: ch, Replaces: old.Leaf})
	if err != nil {
		t.Fatalf("Obtain with refused replaces: %v", err)
	}
	if next.Replaces != "" || srv.Orders() != orders+2 || srv.OrdersWithReplaces() != replaced+1 {
		t.Fatalf("Replaces = %q after %d orders (%d with replaces), want empty after 2 (1)",
			next.Replaces, srv.Orders()-orders, srv.OrdersWithReplaces()-replaced)
	}
	verify(t, srv, next, "fb.example")
}

func TestClient_Obtain_ValidationLookup(t *testing.T) {
	srv, _ := ca(t, acmetest.Options{})
	cfg := acme.Config{Directory: srv.DirectoryURL(), HTTPClient: srv.HTTPClient(), Resolvers: []string{srv.DNSAddr()}}
	acct, err := acme.Register(context.Background(), cfg, "ops@example.com", acme.RegisterOptions{AgreeTOS: true})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := acme.NewClient(cfg, acct)
	if err != nil {
		t.Fatal(err)
	}
	obtain := func(name string, ch acme.Challenge) *acme.ValidationError {
		t.Helper()
		_, err := cl.Obtain(context.Background(), acme.Request{Domains: []string{name}, Challenge: ch})
		var ve *acme.ValidationError
		if !errors.As(err, &ve) || ve.Domain != name || ve.Lookup == nil {
			t.Fatalf("%s: error %v is not a ValidationError with a lookup", name, err)
		}
		return ve
	}

	// Only ::1 while the responder listens on 127.0.0.1: elsewhere.
	const far = "far.lookup.example"
	t.Cleanup(func() { srv.ClearRecords(far) })
	srv.SetAddrs(far, netip.IPv6Loopback())
	ve := obtain(far, acme.Challenge{HTTPAddr: httpAddr(srv)})
	if l := ve.Lookup; !slices.Equal(l.Addrs, []netip.Addr{netip.IPv6Loopback()}) || l.Listen != netip.MustParseAddr("127.0.0.1") || l.Here() {
		t.Errorf("lookup of %s = %+v", far, l)
	}
	if ve.Challenge != acme.HTTP01 || !strings.HasPrefix(ve.URL, "http://"+far+"/.well-known/acme-challenge/") || ve.Path != "" {
		t.Errorf("challenge %q, URL %q, path %q", ve.Challenge, ve.URL, ve.Path)
	}

	// No records at all.
	const none = "none.lookup.example"
	t.Cleanup(func() { srv.ClearRecords(none) })
	srv.SetAddrs(none)
	if l := obtain(none, acme.Challenge{HTTPAddr: httpAddr(srv)}).Lookup; !l.NoRecords() || l.Resolves() {
		t.Errorf("lookup of %s = %+v", none, l)
	}

	// A webroot nobody serves: the token's file and URL are named.
	const web = "web.lookup.example"
	dir := t.TempDir()
	ve = obtain(web, acme.Challenge{Webroot: dir})
	if !strings.HasPrefix(ve.Path, filepath.Join(dir, ".well-known", "acme-challenge")+string(filepath.Separator)) ||
		filepath.Base(ve.Path) != path.Base(ve.URL) || !ve.Lookup.Here() {
		t.Errorf("webroot failure: path %q, URL %q, lookup %+v", ve.Path, ve.URL, ve.Lookup)
	}
	if _, err := os.Stat(ve.Path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("token file %s left behind: %v", ve.Path, err)
	}
}

func TestClient_Obtain_DNS01NotPropagated(t *testing.T) {
	srv, cl := ca(t, acmetest.Options{})
	_, err := cl.Obtain(context.Background(), acme.Request{Domains: []string{"prop.lookup.example"},
		Challenge: acme.Challenge{Type: acme.DNS01, DNS: silentDNS{}, DNSResolvers: []string{srv.DNSAddr()}}})
	var pe *acme.PropagationError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not a PropagationError", err)
	}
	if pe.Domain != "prop.lookup.example" || pe.FQDN != "_acme-challenge.prop.lookup.example." ||
		!slices.Equal(pe.Resolvers, []string{srv.DNSAddr()}) || pe.Wait != silentWait || pe.Err == nil {
		t.Errorf("PropagationError = %+v", pe)
	}
	if srv.Orders() != 1 {
		t.Errorf("orders = %d", srv.Orders())
	}
}

// silentWait is how long lego waits for silentDNS's records.
const silentWait = 300 * time.Millisecond

// silentDNS accepts every record and publishes none.
type silentDNS struct{}

func (silentDNS) Present(_, _, _ string) error { return nil }
func (silentDNS) CleanUp(_, _, _ string) error { return nil }
func (silentDNS) Timeout() (time.Duration, time.Duration) {
	return silentWait, 50 * time.Millisecond
}
