package bindings

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/testpki"
)

// TestBinder_Set_ZeroDowntime swaps the certificate of a live HTTPS server 100
// times while clients do full handshakes in a loop and keep-alive connections
// opened before the swaps keep serving requests.
func TestBinder_Set_ZeroDowntime(t *testing.T) {
	const (
		swaps     = 100
		clients   = 8
		keepAlive = 4
		// Bounds for every loop: the test never runs away, whatever the machine.
		maxHandshakesPerClient = 100_000
		deadline               = 60 * time.Second
	)
	names := []string{"app.example"}
	key := testpki.NewKey(t) // one key for all versions (as with a key-reusing renewal) keeps set-up fast
	versions := make([]*testpki.Leaf, swaps+1)
	for k := range versions {
		versions[k] = issue(t, testpki.LeafSpec{Names: names, Key: key, Serial: big.NewInt(int64(1_000_000 + k))})
	}
	serialIndex := func(s *big.Int) int { return int(s.Int64() - 1_000_000) }

	b := New(nil)
	mustSet(t, b, "app", versions[0], nil)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.TLS = b.TLSConfig(Intermediate)
	srv.StartTLS()
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	roots := pki(t).root.Pool()
	newClientConfig := func() *tls.Config {
		// No ClientSessionCache: every handshake is a full one.
		return &tls.Config{ServerName: "app.example", RootCAs: roots}
	}

	// Keep-alive connections opened before any swap, with the HTTP/1.1
	// exchange done by hand so each one is provably a single connection.
	type kaConn struct {
		c *tls.Conn
		r *bufio.Reader
	}
	kas := make([]kaConn, keepAlive)
	request := func(ka kaConn) error {
		ka.c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(ka.c, "GET / HTTP/1.1\r\nHost: app.example\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(ka.r, nil)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(body) != "ok" {
			return fmt.Errorf("status %d body %q err %v", resp.StatusCode, body, err)
		}
		return nil
	}
	for i := range kas {
		c, err := tls.Dial("tcp", addr, newClientConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		kas[i] = kaConn{c: c, r: bufio.NewReader(c)}
		if err := request(kas[i]); err != nil {
			t.Fatalf("keep-alive %d first request: %v", i, err)
		}
	}

	var (
		stop       atomic.Bool
		failures   atomic.Int64
		handshakes atomic.Int64
		wg         sync.WaitGroup
		errMu      sync.Mutex
		firstErr   error

		// The clients' progress, broadcast on progressed at every change.
		progressMu sync.Mutex
		progressed = sync.NewCond(&progressMu)
		latest     [clients]int // newest version index each client has seen, -1 before its first handshake
		stopped    int          // clients that have left their loop
	)
	for i := range latest {
		latest[i] = -1
	}
	report := func(f func()) {
		progressMu.Lock()
		f()
		progressMu.Unlock()
		progressed.Broadcast()
	}
	fail := func(err error) {
		failures.Add(1)
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
	}
	defer func() { stop.Store(true); wg.Wait() }() // also on an early t.Fatal
	start := time.Now()
	for i := range clients {
		wg.Go(func() {
			defer report(func() { stopped++ })
			prev := 0
			for n := 0; n < maxHandshakesPerClient && !stop.Load() && time.Since(start) < deadline; n++ {
				c, err := tls.Dial("tcp", addr, newClientConfig())
				if err != nil {
					fail(fmt.Errorf("client %d handshake %d: %w", i, n, err))
					continue
				}
				cs := c.ConnectionState()
				c.Close()
				if cs.DidResume {
					fail(fmt.Errorf("client %d: session resumed, want full handshakes", i))
				}
				k := serialIndex(cs.PeerCertificates[0].SerialNumber)
				if k < prev {
					fail(fmt.Errorf("client %d saw version %d after %d", i, k, prev))
				}
				prev = k
				report(func() { latest[i] = k })
				handshakes.Add(1)
			}
		})
	}

	// waitAll waits until every client has seen version k or later; it
	// reports false when a client stopped first (at the deadline, or at its
	// handshake bound), as it can see no newer version.
	waitAll := func(k int) bool {
		progressMu.Lock()
		defer progressMu.Unlock()
		for {
			if slices.Min(latest[:]) >= k {
				return true
			}
			if stopped > 0 {
				return false
			}
			progressed.Wait()
		}
	}
	// Let every client complete a handshake before the first swap.
	if !waitAll(0) {
		t.Fatalf("clients did not all complete a handshake within %v", deadline)
	}

	for k := 1; k <= swaps; k++ {
		mustSet(t, b, "app", versions[k], nil)
		// A fresh handshake after swap k completes gets version k.
		c, err := tls.Dial("tcp", addr, newClientConfig())
		if err != nil {
			t.Fatalf("swap %d: fresh handshake: %v", k, err)
		}
		got := serialIndex(c.ConnectionState().PeerCertificates[0].SerialNumber)
		c.Close()
		if got != k {
			t.Fatalf("swap %d: fresh handshake got version %d", k, got)
		}
		// Every looping client catches up with it.
		if !waitAll(k) {
			t.Fatalf("swap %d: clients did not all see it within %v", k, deadline)
		}
		// Keep-alive connections opened before the swaps keep working, every
		// tenth swap (each request is one round trip on an old connection).
		if k%10 == 0 {
			for i, ka := range kas {
				if err := request(ka); err != nil {
					t.Fatalf("swap %d: keep-alive %d request: %v", k, i, err)
				}
			}
		}
	}
	stop.Store(true)
	wg.Wait()

	if n := failures.Load(); n != 0 {
		t.Fatalf("%d failed handshakes out of %d; first: %v", n, handshakes.Load(), firstErr)
	}
	for i, ka := range kas {
		if err := request(ka); err != nil {
			t.Fatalf("keep-alive %d after swaps: %v", i, err)
		}
		if got := serialIndex(ka.c.ConnectionState().PeerCertificates[0].SerialNumber); got != 0 {
			t.Errorf("keep-alive %d presents version %d, want the original 0", i, got)
		}
	}
	if got, want := b.Serial("app.example"), versions[swaps].Serial(); got != want {
		t.Errorf("Serial = %s, want %s", got, want)
	}
	t.Logf("%d full handshakes by %d clients during %d swaps, 0 failures", handshakes.Load(), clients, swaps)
}
