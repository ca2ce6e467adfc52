package httplimit_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/httplimit"
)

// liveness bounds every wait of these tests: a connection still open after
// it is the failure, not a slow machine.
const liveness = 30 * time.Second

// serve serves h with l on a fresh 127.0.0.1 port until the test ends.
func serve(t *testing.T, h http.Handler, l httplimit.Limits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, ln, h, l)
}

func serveOn(t *testing.T, ln net.Listener, h http.Handler, l httplimit.Limits) string {
	t.Helper()
	srv := httplimit.Server(h, l)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(httplimit.Listener(ln, l)) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return ln.Addr().String()
}

var hello = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hello") })

// closedByServer reads c until the server closes it, and fails if it is
// still open after the liveness bound.
func closedByServer(t *testing.T, c net.Conn, r io.Reader) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(liveness))
	_, err := io.Copy(io.Discard, r)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after %v", liveness)
	}
}

// An idle keep-alive connection is closed by the server once its idle
// timeout passed (http.Server without IdleTimeout and ReadTimeout keeps it
// open for ever).
func TestServer_IdleKeepAlive_Closed(t *testing.T) {
	addr := serve(t, hello, httplimit.Limits{ReadHeader: time.Minute, Idle: 100 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello" || resp.Close {
		t.Fatalf("response %q, close %v: want a kept-alive hello", body, resp.Close)
	}
	closedByServer(t, c, br)
}

// A client that sends its headers a piece at a time and never finishes
// them (slow loris) is cut off after the header timeout.
func TestServer_SlowLoris_Cut(t *testing.T) {
	addr := serve(t, hello, httplimit.Limits{ReadHeader: 100 * time.Millisecond, Idle: time.Minute})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1"); err != nil {
		t.Fatal(err)
	}
	closedByServer(t, c, c)
}

// acceptCounter is a listener that reports each call of Accept, with the
// number of connections the test had released by then.
type acceptCounter struct {
	net.Listener
	released *atomic.Int32
	calls    chan int32
}

func (a *acceptCounter) Accept() (net.Conn, error) {
	a.calls <- a.released.Load()
	return a.Listener.Accept()
}

// With MaxConns 2 and two connections held, the server does not even try
// to accept a third one until one of them closed.
func TestListener_Cap_Holds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var released atomic.Int32
	counter := &acceptCounter{Listener: ln, released: &released, calls: make(chan int32, 16)}
	entered := make(chan struct{}, 4)
	release := make(chan struct{})
	block := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		w.Header().Set("Connection", "close")
	})
	addr := serveOn(t, counter, block, httplimit.Limits{ReadHeader: time.Minute, MaxConns: 2})
	timeout := time.After(liveness)
	wait := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
	var conns []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		wait(entered, "a request in the handler")
	}
	for range 2 { // the calls that accepted the two connections
		if n := <-counter.calls; n != 0 {
			t.Fatalf("accept with %d released", n)
		}
	}
	// Release the first: its response closes its connection.
	released.Add(1)
	release <- struct{}{}
	closedByServer(t, conns[0], conns[0])
	select {
	case n := <-counter.calls:
		if n != 1 {
			t.Fatalf("a third Accept call while both connections were held (released %d)", n)
		}
	case <-timeout:
		t.Fatal("no third Accept after a connection closed")
	}
	close(release)
}
