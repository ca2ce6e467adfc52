package testpki

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"time"
)

// ioTimeout bounds every connection of a [Server] and every wait for a
// result, so that a broken test fails instead of hanging.
const ioTimeout = 30 * time.Second

// Server is a TLS server on 127.0.0.1 made by [ServeTLS]. Each connection it
// accepts completes its handshake, reports the outcome, answers one byte read
// with the same byte, and is closed.
type Server struct {
	// Addr is the address the server listens on.
	Addr    string
	results chan error
}

// ServeTLS starts a [Server] with cfg; it stops, and waits for its
// connections, when the test ends.
func ServeTLS(tb TB, cfg *tls.Config) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), results: make(chan error, 64)}
	var wg sync.WaitGroup
	tb.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(tls.Server(c, cfg)) })
		}
	})
	return s
}

func (s *Server) serve(c *tls.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	err := c.Handshake()
	select {
	case s.results <- err:
	default: // nobody reads the results: drop them
	}
	if err != nil {
		return
	}
	var buf [1]byte
	if _, err := c.Read(buf[:]); err == nil {
		c.Write(buf[:])
	}
}

// Dial does a handshake with cfg and a one-byte echo, and returns the
// connection state and the first error, of the handshake or of the echo (a
// TLS 1.3 server refuses a client certificate after the client's handshake
// has finished).
func (s *Server) Dial(cfg *tls.Config) (tls.ConnectionState, error) {
	d := &net.Dialer{Timeout: ioTimeout}
	c, err := tls.DialWithDialer(d, "tcp", s.Addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	cs := c.ConnectionState()
	if _, err := c.Write([]byte{'x'}); err != nil {
		return cs, err
	}
	// ReadFull: the echo may come with the server's close_notify, as (1, EOF).
	var buf [1]byte
	if _, err := io.ReadFull(c, buf[:]); err != nil {
		return cs, err
	}
	return c.ConnectionState(), nil
}

// Result returns the outcome of the next server-side handshake to finish
// (nil for a success). The server holds up to 64 unread outcomes and drops
// those that come while it holds 64.
func (s *Server) Result(tb TB) error {
	tb.Helper()
	select {
	case err := <-s.results:
		return err
	case <-time.After(ioTimeout):
		tb.Fatal("no server-side handshake result")
		return nil
	}
}
