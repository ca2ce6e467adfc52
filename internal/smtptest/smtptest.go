package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options configure a [Server]; the zero value offers STARTTLS and no AUTH.
type Options struct {
	// Username and Password, when Username is set, are the only credentials
	// AUTH PLAIN accepts, and a message is refused without them.
	Username, Password string
	// ImplicitTLS makes the server speak TLS from the first byte (smtps)
	// instead of offering STARTTLS.
	ImplicitTLS bool
	// Reject, if set, answers DATA with it for as many messages as it holds
	// (&smtp.SMTPError{Code: 451, ...} for a temporary failure), then
	// accepts.
	Reject []*smtp.SMTPError
}

// Message is one message the server accepted.
type Message struct {
	From string
	To   []string
	// User is the user that authenticated, "" for none.
	User string
	// TLS tells whether the session was encrypted when the message came.
	TLS bool
	// Data is the message as received; Header and Body are it parsed.
	Data   []byte
	Header mail.Header
	Body   string
}

// Server is a running SMTP server.
type Server struct {
	// Addr is its host:port on 127.0.0.1.
	Addr string
	// CAPEM is the PEM certificate that verifies its TLS certificate (for
	// 127.0.0.1 and localhost).
	CAPEM []byte
	// Messages receives every accepted message (buffered: 64).
	Messages chan Message

	mu         sync.Mutex
	opts       Options
	authFailed int
	authPlain  []string // the passwords tried on plaintext connections
}

// Start starts a server that stops when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	cert, caPEM := selfSigned(t)
	s := &Server{CAPEM: caPEM, Messages: make(chan Message, 64), opts: o}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, c: c}, nil
	}))
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	var l net.Listener
	var err error
	if o.ImplicitTLS {
		l, err = tls.Listen("tcp", "127.0.0.1:0", srv.TLSConfig)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return s
}

// AuthFailures is how many AUTH attempts failed.
func (s *Server) AuthFailures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authFailed
}

// session is one SMTP connection.
type session struct {
	s    *Server
	c    *smtp.Conn
	user string
	from string
	to   []string
}

var _ smtp.AuthSession = (*session)(nil)

func (x *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (x *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		x.s.mu.Lock()
		defer x.s.mu.Unlock()
		if _, ok := x.c.TLSConnectionState(); !ok {
			x.s.authPlain = append(x.s.authPlain, password)
		}
		if x.s.opts.Username == "" || username != x.s.opts.Username || password != x.s.opts.Password {
			x.s.authFailed++
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "authentication failed"}
		}
		x.user = username
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.opts.Username != "" && x.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	if len(x.s.opts.Reject) > 0 {
		e := x.s.opts.Reject[0]
		x.s.opts.Reject = x.s.opts.Reject[1:]
		x.s.mu.Unlock()
		return e
	}
	x.s.mu.Unlock()
	_, tlsOn := x.c.TLSConnectionState()
	m := Message{From: x.from, To: x.to, User: x.user, TLS: tlsOn, Data: b}
	if pm, err := mail.ReadMessage(bytes.NewReader(b)); err == nil {
		m.Header = pm.Header
		body, _ := io.ReadAll(pm.Body)
		m.Body = strings.ReplaceAll(string(body), "\r\n", "\n")
	}
	select {
	case x.s.Messages <- m:
	default:
		return errors.New("smtptest: too many messages unread")
	}
	return nil
}

func (x *session) Reset() { x.from, x.to = "", nil }

func (x *session) Logout() error { return nil }

// selfSigned makes a self-signed certificate for 127.0.0.1 and localhost.
func selfSigned(t testing.TB) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "smtptest"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// PlaintextPasswords are the passwords a client sent before TLS was on
// (there should be none).
func (s *Server) PlaintextPasswords() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.authPlain...)
}
