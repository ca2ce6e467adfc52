package acme

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-acme/lego/v4/challenge"
)

// Overlapping certctl processes on one HTTP-01 port.
//
// The process that binds the port (the holder) answers its own tokens and,
// when it shares a store ([Challenge].Shared), any token published there. A
// second process that finds the port held by another certctl process does
// not wait for it when it has a store to share: it publishes each token in
// the store and asks the holder for it over loopback (delegate.Present). An
// answer equal to the key authorization proves that the holder reads the
// same store and is up, so the CA can be told to validate; any other answer
// (the holder uses another store, shares none, or has just closed) makes the
// process fall back to what it did before: wait for the port and bind it.
//
// The holder records each token it answered from the store. When its own
// last order ends it stays up (lingers) while any such token is still
// published, so a process that it answered a check for is never left
// without a responder: a delegating process retracts its token once the
// authorization is done (lego's CleanUp), and the holder closes at the next
// poll after the last one went (at most lingerMax, for a process that died
// holding one). The holder decides to close and stops answering from the
// store in one step under its lock, so a check either reaches a holder that
// will linger for it or fails and leads to the fallback.

var (
	// lingerPoll is how often a lingering responder checks whether the
	// tokens it answered are still published; lingerMax bounds how long it
	// lingers. Variables for tests.
	lingerPoll = 25 * time.Millisecond
	lingerMax  = time.Minute
	// lingerWG counts lingering responders, for WaitLingering.
	lingerWG sync.WaitGroup
	// delegateCheckTimeout bounds the loopback request asking the holder
	// of a port for a published token.
	delegateCheckTimeout = 5 * time.Second
)

// errHolderWaitable reports that another certctl process holds a port and
// acquire would have waited for it.
var errHolderWaitable = errors.New("the port is held by another certctl process")

// WaitLingering waits until the responders this process keeps up for other
// certctl processes' orders (published in a shared store and answered by
// this process's HTTP-01 responder) have closed, or ctx ends. A program that
// runs orders with [Challenge].Shared calls it before it exits, so the orders
// of another process that relies on its listener can finish: it returns at
// once when there are none, and otherwise when the last such order is done
// (at most a minute).
func WaitLingering(ctx context.Context) {
	done := make(chan struct{})
	go func() { lingerWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// servedFromFleet records that the responder answered token from its
// fleet's store, and reports whether it may: not once it decided to close.
func (r *HTTPResponder) servedFromFleet(token string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return false
	}
	now := time.Now()
	if r.served == nil {
		r.served = make(map[string]time.Time)
	}
	if len(r.served) >= servedSweepAt {
		// A responder that never lingers (a daemon serving a fleet) never
		// prunes: forget tokens whose answers have expired anyway.
		for t, at := range r.served {
			if now.Sub(at) > ChallengeTTL {
				delete(r.served, t)
			}
		}
	}
	r.served[token] = now
	return true
}

// servedSweepAt is the number of served tokens from which recording one
// more first forgets those older than ChallengeTTL.
const servedSweepAt = 256

// keepForFleet reports whether r stays up with no order of its process,
// because tokens it answered from the store may still be validated; when not,
// r answers no more tokens from the store. Called under sharedMu; no I/O.
func (r *HTTPResponder) keepForFleet() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.served) == 0 {
		r.closing = true
		return false
	}
	return true
}

// pruneServed forgets the served tokens that are no longer published (their
// order is done, or they expired).
func (r *HTTPResponder) pruneServed() {
	r.mu.RLock()
	fleets := r.attached.lookupSet(r.fleet)
	tokens := make([]string, 0, len(r.served))
	for t := range r.served {
		tokens = append(tokens, t)
	}
	r.mu.RUnlock()
	var gone []string
	for _, t := range tokens {
		if lookupAny(context.Background(), fleets, HTTP01, t) == "" {
			gone = append(gone, t)
		}
	}
	r.mu.Lock()
	for _, t := range gone {
		delete(r.served, t)
	}
	r.mu.Unlock()
}

// linger keeps e's responder up, with no order of this process using it,
// while opts.keep says so (pruning with opts.prune between polls) and for at
// most lingerMax; an order of this process acquiring it ends the lingering.
func linger[T any](m map[string]*sharedEntry[T], addr string, e *sharedEntry[T], stop func(T), opts acquireOpts[T]) {
	defer lingerWG.Done()
	if r, ok := any(e.r).(*HTTPResponder); ok {
		r.logger().Info("keeping the http-01 responder up for other certctl processes' orders", "addr", addr)
	}
	deadline := time.Now().Add(lingerMax)
	t := time.NewTicker(lingerPoll)
	defer t.Stop()
	for range t.C {
		sharedMu.Lock()
		inUse := e.refs > 0
		if inUse {
			e.lingering = false
		}
		sharedMu.Unlock()
		if inUse {
			return
		}
		if opts.prune != nil {
			opts.prune(e.r)
		}
		sharedMu.Lock()
		if e.refs > 0 {
			e.lingering = false
			sharedMu.Unlock()
			return
		}
		if !opts.keep(e.r) || time.Now().After(deadline) {
			delete(m, addr)
			stop(e.r)
			sharedMu.Unlock()
			return
		}
		sharedMu.Unlock()
	}
}

// delegate is the HTTP-01 provider of an order whose port another certctl
// process holds: it publishes each token in the shared store for the
// holder to answer, after checking that the holder does, and otherwise
// takes the port itself as before (waiting for it).
type delegate struct {
	ctx  context.Context
	addr string // the port's address, as configured
	f    fleet
	pid  int // the holder's, when known

	mu        sync.Mutex
	published map[string]bool // tokens the holder answers
	own       *httpOrder      // set once it fell back to the port
	release   func()
}

// newDelegate returns the provider of an order that relies on the holder
// busy of addr.
func newDelegate(ctx context.Context, addr string, cs ChallengeStore, log *slog.Logger, busy *PortBusyError) *delegate {
	d := &delegate{ctx: ctx, addr: addr, f: fleet{cs, log}, published: map[string]bool{}}
	if busy != nil {
		d.pid = busy.PID
	}
	d.f.logger().Info("http-01 port held by another certctl process: publishing tokens for it to answer instead of waiting",
		"addr", addr, "holder_pid", d.pid)
	return d
}

// Present publishes token, and checks that the holder answers it; if not,
// it takes the port (waiting for it) and answers token itself.
func (d *delegate) Present(domain, token, keyAuth string) error {
	d.mu.Lock()
	own := d.own
	d.mu.Unlock()
	if own != nil {
		return own.Present(domain, token, keyAuth)
	}
	if err := d.f.publish(HTTP01, token, keyAuth); err != nil {
		return err
	}
	err := d.check(token, keyAuth)
	if err == nil {
		d.mu.Lock()
		d.published[token] = true
		d.mu.Unlock()
		d.f.logger().Info("published http-01 token; another certctl process answers it",
			"domain", domain, "addr", d.addr, "holder_pid", d.pid)
		return nil
	}
	d.f.retract(HTTP01, token, keyAuth)
	d.f.logger().Info("the port's holder does not answer this process's tokens; waiting for the port",
		"domain", domain, "addr", d.addr, "error", err)
	r, release, aerr := AcquireHTTPResponder(d.ctx, d.addr)
	if aerr != nil {
		return aerr
	}
	o, detach := r.forOrder(d.f.cs, d.f.log)
	d.mu.Lock()
	if d.own != nil { // a concurrent Present took it first
		detach()
		release()
		o = d.own
	} else {
		d.own, d.release = o, func() { detach(); release() }
	}
	d.mu.Unlock()
	return o.Present(domain, token, keyAuth)
}

// CleanUp retracts token from the store, or from the responder it fell back
// to.
func (d *delegate) CleanUp(domain, token, keyAuth string) error {
	d.mu.Lock()
	pub := d.published[token]
	delete(d.published, token)
	own := d.own
	d.mu.Unlock()
	if pub || own == nil {
		d.f.retract(HTTP01, token, keyAuth)
		return nil
	}
	return own.CleanUp(domain, token, keyAuth)
}

// done releases the port if the delegate fell back to taking it.
func (d *delegate) done() {
	d.mu.Lock()
	release := d.release
	d.own, d.release = nil, nil
	d.mu.Unlock()
	if release != nil {
		release()
	}
}

// check asks the port's holder over loopback for token and wants keyAuth.
func (d *delegate) check(token, keyAuth string) error {
	ctx, cancel := context.WithTimeout(d.ctx, delegateCheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+loopbackAddr(d.addr)+challengePath+token, nil)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || string(body) != keyAuth {
		return fmt.Errorf("holder answered %s", resp.Status)
	}
	return nil
}

// loopbackAddr is the address to reach a listener on addr from this host:
// its host, or the loopback address for the wildcard ones.
func loopbackAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

// httpProvider acquires the shared HTTP-01 responder on addr for an order
// sharing cs, or, when another certctl process holds the port, a delegate
// relying on that process's responder (own is then nil).
func httpProvider(ctx context.Context, addr string, cs ChallengeStore, log *slog.Logger) (p challenge.Provider, release func(), own *HTTPResponder, err error) {
	if addr == "" {
		addr = ":80"
	}
	r, free, err := acquireHTTP(ctx, addr, cs != nil)
	if err == nil {
		if cs == nil {
			return r, free, r, nil
		}
		o, detach := r.forOrder(cs, log)
		return o, func() { detach(); free() }, r, nil
	}
	var busy *PortBusyError
	if !errors.Is(err, errHolderWaitable) || !errors.As(err, &busy) {
		return nil, nil, nil, err
	}
	d := newDelegate(ctx, addr, cs, log, busy)
	return d, d.done, nil, nil
}
