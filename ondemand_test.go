package certctl_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/certctl/certctl"
	"github.com/certctl/certctl/internal/acmetest"
)

// allowList is an OnDemand.Allow over a fixed set of names that counts
// its calls.
type allowList struct {
	names map[string]bool
	calls atomic.Int64
}

func (a *allowList) allow(_ context.Context, name string) error {
	a.calls.Add(1)
	if a.names[name] {
		return nil
	}
	return fmt.Errorf("%s is not a tenant", name)
}

// onDemandManager starts a Manager with on-demand issuance allowed for
// names, serving on Pebble's tls-alpn-01 port.
func onDemandManager(t *testing.T, e *facadeEnv, od certctl.OnDemand, names ...string) (*certctl.Manager, *allowList, string) {
	t.Helper()
	al := &allowList{names: map[string]bool{}}
	for _, n := range names {
		al.names[n] = true
	}
	od.Allow = al.allow
	cfg := e.config()
	cfg.OnDemand = &od
	m, err := certctl.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m, al, serveTLS(t, m, e.tlsAddr())
}

// 100 concurrent handshakes for one allowed new name wait for one order
// and all succeed with the certificate it obtained.
func TestOnDemand_ConcurrentHandshakes_OneOrder(t *testing.T) {
	e := newFacadeEnv(t, acmetest.Options{})
	_, al, addr := onDemandManager(t, e, certctl.OnDemand{}, "od.example")
	const n = 100
	serials := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			serials[i], errs[i] = e.handshake(addr, "od.example")
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("handshake %d: %v", i, err)
		}
		if serials[i] != serials[0] {
			t.Fatalf("handshake %d got serial %s, handshake 0 %s", i, serials[i], serials[0])
		}
	}
	if got := e.srv.Orders(); got != 1 {
		t.Fatalf("orders = %d, want 1", got)
	}
	if got := al.calls.Load(); got != 1 {
		t.Fatalf("Allow asked %d times, want 1", got)
	}
}

// A denied name fails its handshake without any request to the CA, and
// the denial is remembered: Allow is not asked again.
func TestOnDemand_Denied_NoCARequest(t *testing.T) {
	e := newFacadeEnv(t, acmetest.Options{})
	_, al, addr := onDemandManager(t, e, certctl.OnDemand{}, "ok.example")
	before := e.reqs.n.Load()
	for range 3 {
		if _, err := e.handshake(addr, "evil.example"); err == nil {
			t.Fatal("handshake for a denied name succeeded")
		}
	}
	if got := e.reqs.n.Load() - before; got != 0 {
		t.Fatalf("denied name made %d requests to the CA", got)
	}
	if got := al.calls.Load(); got != 1 {
		t.Fatalf("Allow asked %d times, want 1 (the denial is remembered)", got)
	}
}

// IP addresses, wildcards and malformed names are refused before Allow is
// asked.
func TestOnDemand_BadServerNames_NotAsked(t *testing.T) {
	e := newFacadeEnv(t, acmetest.Options{})
	m, al, _ := onDemandManager(t, e, certctl.OnDemand{}, "ok.example")
	get := m.TLSConfig().GetCertificate
	for _, name := range []string{"127.0.0.1", "::1", "[::1]", "*.example.com", "a..example", "under_score.example",
		"-lead.example", "nodot", "a.example:443", "x.123"} {
		_, err := get(&tls.ClientHelloInfo{ServerName: name})
		if !errors.Is(err, certctl.ErrBadServerName) {
			t.Errorf("%q: %v, want ErrBadServerName", name, err)
		}
	}
	if got := al.calls.Load(); got != 0 {
		t.Fatalf("Allow asked %d times for invalid names", got)
	}
}

// The rate limit of new orders holds under a burst of 50 new names.
func TestOnDemand_RateLimit_HoldsUnderBurst(t *testing.T) {
	e := newFacadeEnv(t, acmetest.Options{})
	var names []string
	for i := range 50 {
		names = append(names, fmt.Sprintf("t%02d.burst.example", i))
	}
	_, _, addr := onDemandManager(t, e, certctl.OnDemand{Orders: 5, Per: time.Hour}, names...)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for _, n := range names {
		wg.Go(func() {
			if _, err := e.handshake(addr, n); err == nil {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if got := e.srv.Orders(); got != 5 {
		t.Fatalf("orders = %d, want the limit's 5", got)
	}
	if got := ok.Load(); got != 5 {
		t.Fatalf("%d handshakes succeeded, want 5", got)
	}
}

// A name whose order failed is not ordered again until its back-off ends.
func TestOnDemand_FailingName_BacksOff(t *testing.T) {
	e := newFacadeEnv(t, acmetest.Options{})
	const name = "flaky.backoff.example"
	e.srv.SetAddrs(name) // resolves to nothing: validation fails
	t.Cleanup(func() { e.srv.ClearRecords(name) })
	m, al, addr := onDemandManager(t, e, certctl.OnDemand{Backoff: time.Minute}, name)
	var mu sync.Mutex
	now := time.Now()
	certctl.SetOnDemandClock(m, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })

	if _, err := e.handshake(addr, name); err == nil {
		t.Fatal("handshake succeeded while validation must fail")
	}
	if got := e.srv.Orders(); got != 1 {
		t.Fatalf("orders = %d, want 1", got)
	}
	before := e.reqs.n.Load()
	for range 3 {
		if _, err := e.handshake(addr, name); err == nil {
			t.Fatal("handshake succeeded during the back-off")
		}
	}
	if got := e.reqs.n.Load() - before; got != 0 {
		t.Fatalf("%d requests to the CA during the back-off", got)
	}
	// The back-off over and the name fixed, the next handshake obtains it.
	e.srv.ClearRecords(name)
	mu.Lock()
	now = now.Add(time.Minute + time.Second)
	mu.Unlock()
	mustHandshake(t, e, addr, name)
	if got := e.srv.Orders(); got != 2 {
		t.Fatalf("orders = %d, want 2", got)
	}
	if got := al.calls.Load(); got != 2 {
		t.Fatalf("Allow asked %d times, want 2", got)
	}
}

// Close stops every goroutine the Manager started: the renewal manager, the
// store watch, on-demand orders.
func TestManager_Close_NoGoroutineLeft(t *testing.T) {
	e := newFacadeEnv(t, acmetest.Options{})
	closeIdle := func() {
		e.hc.CloseIdleConnections()
		if c, ok := e.reqs.next.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	}
	ignore := goleak.IgnoreCurrent() // Pebble, its DNS and the test's servers
	od := &certctl.OnDemand{Allow: func(context.Context, string) error { return nil }}
	cfg := e.config()
	cfg.OnDemand = od
	m, err := certctl.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := serveTLSStop(t, m, e.tlsAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := m.Manage(ctx, "leak1.example"); err != nil {
		t.Fatal(err)
	}
	mustHandshake(t, e, addr, "leak1.example")
	mustHandshake(t, e, addr, "leak2.example") // on demand
	stop()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	closeIdle()
	goleak.VerifyNone(t, ignore)
}

// Two nodes sharing one store get concurrent handshakes for the same new
// name: one order between them, every handshake served the one
// certificate. Only node A listens where the CA validates; when node B
// orders, A answers B's tls-alpn-01 challenge from the shared store.
func TestOnDemand_Fleet_OneOrderAcrossNodes(t *testing.T) {
	e := newFacadeEnv(t, acmetest.Options{})
	allow := func(context.Context, string) error { return nil }
	nodes := make([]string, 2)
	for i := range nodes {
		cfg := e.config()
		cfg.OnDemand = &certctl.OnDemand{Allow: allow}
		m, err := certctl.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Close() })
		addr := "127.0.0.1:0"
		if i == 0 {
			addr = e.tlsAddr()
		}
		nodes[i] = serveTLS(t, m, addr)
	}
	const per = 10
	serials := make([]string, 2*per)
	errs := make([]error, 2*per)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 2 * per {
		wg.Go(func() {
			<-start
			serials[i], errs[i] = e.handshake(nodes[i%2], "fleet.example")
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("handshake %d (node %d): %v", i, i%2, err)
		}
		if serials[i] != serials[0] {
			t.Fatalf("handshake %d served %s, handshake 0 %s", i, serials[i], serials[0])
		}
	}
	if got := e.srv.Orders(); got != 1 {
		t.Fatalf("orders = %d across the fleet, want 1", got)
	}
}
