package acme_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/internal/httplimit"
)

// liveness bounds the waits of these tests: a connection still open after
// it is the failure.
const liveness = 30 * time.Second

// closedByServer reads r (from c) until the server closes c, and fails if
// it is still open after the liveness bound.
func closedByServer(t *testing.T, c net.Conn, r io.Reader) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(liveness))
	if _, err := io.Copy(io.Discard, r); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after %v", liveness)
	}
}

// The HTTP-01 responder (on every interface during an order) closes an idle
// keep-alive connection after its idle timeout, and cuts off a client that
// never finishes its headers; once closed it leaves no goroutine behind.
func TestHTTPResponder_IdleAndSlowClients_Cut(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	acme.SetResponderLimits(t, httplimit.Limits{ReadHeader: 200 * time.Millisecond, Read: time.Second,
		Write: time.Second, Idle: 200 * time.Millisecond, MaxConns: 8})
	r := acme.NewHTTPResponder()
	if err := r.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	_ = r.Present("x.example", "tok", "tok.ka")

	idle, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, err := io.WriteString(idle, "GET /.well-known/acme-challenge/tok HTTP/1.1\r\nHost: x.example\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(idle)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "tok.ka" || resp.Close {
		t.Fatalf("served %q (close %v), want a kept-alive tok.ka", body, resp.Close)
	}
	closedByServer(t, idle, br)

	slow, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := io.WriteString(slow, "GET /.well-known/acme-challenge/tok HTTP/1.1\r\nHost: x"); err != nil {
		t.Fatal(err)
	}
	closedByServer(t, slow, slow)

	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, ignore)
}

// The TLS-ALPN-01 responder gives its challenge certificate only to a
// client offering exactly acme-tls/1 (RFC 8737 section 3): a plain TLS
// client, one offering h2 or http/1.1, or acme-tls/1 among others, fails
// its handshake. Closing it leaves no goroutine behind, even with a
// handshake left half-way.
func TestTLSALPNResponder_OnlyValidationHandshakes(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	r := acme.NewTLSALPNResponder()
	addr, err := acme.ListenTLSALPN(r, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Present("x.example", "tok", "tok.ka"); err != nil {
		t.Fatal(err)
	}
	dial := func(protos []string) (*tls.Conn, error) {
		d := &net.Dialer{Timeout: liveness}
		c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: "x.example", NextProtos: protos,
			InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) // the challenge certificate is self-signed
		return c, err
	}
	c, err := dial([]string{acme.ALPNProto})
	if err != nil {
		t.Fatalf("validation handshake: %v", err)
	}
	st := c.ConnectionState()
	if st.NegotiatedProtocol != acme.ALPNProto || len(st.PeerCertificates) != 1 ||
		len(st.PeerCertificates[0].DNSNames) != 1 || st.PeerCertificates[0].DNSNames[0] != "x.example" {
		t.Fatalf("validation got protocol %q and %d certificates", st.NegotiatedProtocol, len(st.PeerCertificates))
	}
	c.Close()

	for _, protos := range [][]string{nil, {"h2"}, {"http/1.1"}, {"h2", "http/1.1"}, {"h2", acme.ALPNProto}, {acme.ALPNProto, "http/1.1"}} {
		c, err := dial(protos)
		if err == nil {
			st := c.ConnectionState()
			c.Close()
			t.Errorf("ALPN %q: handshake succeeded with %d certificates (%v)", protos, len(st.PeerCertificates),
				st.PeerCertificates[0].DNSNames)
		}
	}

	// A client that connects and says nothing is cut off by Close.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, ignore)
}
