package renew_test

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/renew"
)

// validationGate answers the CA's HTTP-01 validations on its port, holding
// every validation of a token until the test releases it. Pebble fetches a
// token several times per validation (from several "perspectives"); all of
// them wait for the same release. The first request of each token is
// announced on arrived with the token's release function.
type validationGate struct {
	responder *acme.HTTPResponder
	arrived   chan func()

	mu    sync.Mutex
	gates map[string]chan struct{} // token path -> closed when released
}

func startValidationGate(t *testing.T, srv *acmetest.Server) *validationGate {
	t.Helper()
	g := &validationGate{responder: acme.NewHTTPResponder(), arrived: make(chan func(), 64), gates: map[string]chan struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(srv.HTTPPort()))
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: g}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return g
}

func (g *validationGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	ch, seen := g.gates[r.URL.Path]
	if !seen {
		ch = make(chan struct{})
		g.gates[r.URL.Path] = ch
	}
	g.mu.Unlock()
	if !seen {
		g.arrived <- sync.OnceFunc(func() { close(ch) })
	}
	select {
	case <-ch:
	case <-r.Context().Done():
		return
	}
	g.responder.ServeHTTP(w, r)
}

// issueGated issues n certificates from n goroutines (as `certctl apply`
// does) through svc, releasing the held validations whenever hold of them
// are held at once (or all that are left), and returns the most orders the
// CA had in flight at once.
func issueGated(t *testing.T, e *env, g *validationGate, prefix string, n, hold int) int {
	t.Helper()
	e.svc.Solvers.HTTPResponder = g.responder
	e.srv.ResetOrdersInFlight()
	ctx := context.Background()
	results := make(chan renew.Result, n)
	for i := range n {
		name := prefix + strconv.Itoa(i) + ".example"
		go func() { results <- e.svc.Issue(ctx, e.tmpl(name, name), false) }()
	}
	var held []func()
	released, done := 0, 0
	for done < n {
		select {
		case release := <-g.arrived:
			held = append(held, release)
			if len(held) >= min(hold, n-released) {
				if now, _ := e.srv.OrdersInFlight(); now < len(held) {
					t.Errorf("%d validations held, but the CA counts %d orders in flight", len(held), now)
				}
				for _, f := range held {
					f()
				}
				released += len(held)
				held = held[:0]
			}
		case r := <-results:
			done++
			if r.Err != nil || r.Action != renew.ActionIssued {
				t.Fatalf("%s: %s %v", r.Name, r.Action, r.Err)
			}
			e.verifyActive(t, r.Name)
		}
	}
	now, peak := e.srv.OrdersInFlight()
	if now != 0 {
		t.Errorf("%d orders still in flight after every issue finished", now)
	}
	return peak
}

// With MaxConcurrentOrders at 2, eight certificates issued at once by eight
// goroutines never have more than two orders in flight at the CA (from
// newOrder to the finalize answer): the validations are held until two
// are pending, so a third order would be seen if the cap let it through;
// every certificate is issued and verifies.
func TestService_MaxConcurrentOrders_CapsOrdersInFlight(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	g := startValidationGate(t, e.srv)
	e.svc.Workers = 8
	e.svc.MaxConcurrentOrders = 2
	if peak := issueGated(t, e, g, "cap", 8, 2); peak != 2 {
		t.Fatalf("the CA saw at most %d orders in flight, want exactly 2 (the cap)", peak)
	}
}

// Without a cap (MaxConcurrentOrders negative), the same eight issues have
// all their orders in flight at once: the gate waits for eight held
// validations, so the counter the capped test relies on does see
// concurrent orders.
func TestService_MaxConcurrentOrders_NegativeMeansNoCap(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	g := startValidationGate(t, e.srv)
	e.svc.Workers = 2 // the default cap would be 2
	e.svc.MaxConcurrentOrders = -1
	if peak := issueGated(t, e, g, "nocap", 8, 8); peak != 8 {
		t.Fatalf("the CA saw at most %d orders in flight, want 8", peak)
	}
}

// A zero MaxConcurrentOrders caps the orders in flight at the worker
// count, also for callers of Issue, which Workers itself does not bound.
func TestService_MaxConcurrentOrders_ZeroMeansWorkers(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	g := startValidationGate(t, e.srv)
	e.svc.Workers = 3
	if peak := issueGated(t, e, g, "zero", 7, 3); peak != 3 {
		t.Fatalf("the CA saw at most %d orders in flight, want 3 (Workers)", peak)
	}
}
