package certctl_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/certctl/certctl"
	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/bindings"
	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// fleet is a Pebble CA and a store shared by the nodes of a test.
type fleet struct {
	srv *acmetest.Server
	db  *store.DB
}

func newFleet(t *testing.T) *fleet {
	t.Helper()
	srv := acmetest.StartT(t, acmetest.Options{})
	db, err := store.Open(filepath.Join(t.TempDir(), "certctl.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fleet{srv, db}
}

// orderingNode is node A: a renewal service on the fleet's store whose own
// responders listen on ports the CA never dials. shared says whether it
// publishes its answers to the store.
func (f *fleet) orderingNode(shared bool) *renew.Service {
	svc := &renew.Service{Store: f.db, Issuers: &renew.Accounts{Store: f.db, HTTPClient: f.srv.HTTPClient(), AgreeTOS: true}}
	if shared {
		svc.Solvers.Shared = f.db
	}
	return svc
}

func (f *fleet) tmpl(name, typ string) *store.Certificate {
	return &store.Certificate{Name: name, Domains: []string{name}, KeyType: "ec256", Directory: f.srv.DirectoryURL(),
		Email:     "ops@example.com",
		Challenge: store.Challenge{Type: typ, HTTPAddr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0"}}
}

// verify checks name's active version against Pebble's root.
func (f *fleet) verify(t *testing.T, name string) {
	t.Helper()
	c, err := f.db.Get(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	v := c.ActiveVersion()
	pc, err := acme.ParseCertificate(v.Fullchain(), v.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots, _ := f.srv.Roots()
	inter := x509.NewCertPool()
	for _, ic := range pc.Chain {
		inter.AddCert(ic)
	}
	if _, err := pc.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name}); err != nil {
		t.Fatalf("%s does not verify against Pebble's root: %v", name, err)
	}
}

// listenOn listens on the loopback port the CA dials, for node B.
func listenOn(t *testing.T, port int) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func serve(t *testing.T, ln net.Listener, h http.Handler) {
	t.Helper()
	srv := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// Node A orders; the CA's HTTP-01 request reaches node B, which never saw the
// order and answers from the shared store through ChallengeHandler.
func TestChallengeHandler_AnswersTokensOfAnotherNode(t *testing.T) {
	f := newFleet(t)
	other := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	serve(t, listenOn(t, f.srv.HTTPPort()), certctl.ChallengeHandler(f.db, other))

	// Control: without publishing, node B cannot answer and validation fails.
	r := f.orderingNode(false).Issue(t.Context(), f.tmpl("control.example", acme.HTTP01), false)
	var verr *acme.ValidationError
	if !errors.As(r.Err, &verr) {
		t.Fatalf("unpublished order: %s %v, want a validation error", r.Action, r.Err)
	}

	r = f.orderingNode(true).Issue(t.Context(), f.tmpl("a.example", acme.HTTP01), false)
	if r.Err != nil || r.Action != renew.ActionIssued {
		t.Fatalf("Issue through node B: %s %v", r.Action, r.Err)
	}
	f.verify(t, "a.example")

	// Other paths reach the next handler.
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(f.srv.HTTPPort()) + "/index.html")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot {
		t.Fatalf("other path: %d, want the next handler's 418", resp.StatusCode)
	}
}

// Node A orders with tls-alpn-01; the CA's handshake reaches node B's HTTPS
// server (a binder's TLS config), which builds the challenge certificate
// from the key authorization A published, while serving its own site.
func TestTLSALPNChallenges_AnswersChallengesOfAnotherNode(t *testing.T) {
	f := newFleet(t)
	b := bindings.New(nil)
	cfg := certctl.TLSALPNChallenges(b.TLSConfig(bindings.Intermediate), f.db)
	ln := tls.NewListener(listenOn(t, f.srv.TLSPort()), cfg)
	serve(t, ln, http.NotFoundHandler())

	// Control: without publishing, node B cannot answer.
	r := f.orderingNode(false).Issue(t.Context(), f.tmpl("control.example", acme.TLSALPN01), false)
	var verr *acme.ValidationError
	if !errors.As(r.Err, &verr) {
		t.Fatalf("unpublished order: %s %v, want a validation error", r.Action, r.Err)
	}

	r = f.orderingNode(true).Issue(t.Context(), f.tmpl("a.example", acme.TLSALPN01), false)
	if r.Err != nil || r.Action != renew.ActionIssued {
		t.Fatalf("Issue through node B: %s %v", r.Action, r.Err)
	}
	f.verify(t, "a.example")

	// The issued certificate, bound on node B, serves ordinary clients.
	c, _ := f.db.Get(t.Context(), "a.example")
	v := c.ActiveVersion()
	if err := b.Set("a", v.Fullchain(), v.KeyPEM, nil); err != nil {
		t.Fatal(err)
	}
	roots, _ := f.srv.Roots()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "a.example", RootCAs: roots,
		NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatalf("ordinary handshake on node B: %v", err)
	}
	// certctl's serials are the hex of the serial's bytes: an even number
	// of digits (big.Int.Text(16) drops a leading zero, 1 time in 16).
	if got := hex.EncodeToString(conn.ConnectionState().PeerCertificates[0].SerialNumber.Bytes()); got != v.Serial {
		t.Fatalf("node B served serial %s, want %s", got, v.Serial)
	}
	conn.Close()

	// Once the order ended the answer is gone: a validation handshake fails.
	_, err = tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "a.example", InsecureSkipVerify: true,
		NextProtos: []string{acme.ALPNProto}})
	if err == nil {
		t.Fatal("node B still answers a challenge whose order ended")
	}
}
