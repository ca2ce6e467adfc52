package acme

import (
	"context"
	"log/slog"
)

// A process-wide responder serves every order of the process, and those
// orders need not share one store: a test binary runs many stores at once,
// and an embedder may manage several. So each order that shares its
// challenges gets a provider of its own ([httpOrder], [tlsOrder]) that
// publishes to and retracts from its own store, and the responder looks a
// token it does not hold up in the stores of all the orders attached to it.
// Tying the responder to the first order's store instead failed every later
// order once that store was closed.

// attached are the stores of the orders using a responder. It is guarded
// by the responder's mutex.
type attached struct {
	fleets map[*fleet]struct{}
	// last is the store of the last order detached: a responder kept up
	// for other processes' orders (see lingerHTTP) still looks their tokens
	// up there.
	last fleet
}

// add attaches f and returns the handle that remove takes.
func (a *attached) add(f fleet) *fleet {
	p := &f
	if a.fleets == nil {
		a.fleets = make(map[*fleet]struct{})
	}
	a.fleets[p] = struct{}{}
	return p
}

// remove detaches p.
func (a *attached) remove(p *fleet) {
	delete(a.fleets, p)
	a.last = *p
}

// lookupSet is the stores to look a challenge up in: those of the attached
// orders and the explicit one (Share), or, with none of those, the last
// order's.
func (a *attached) lookupSet(explicit fleet) []fleet {
	out := make([]fleet, 0, len(a.fleets)+1)
	for p := range a.fleets {
		out = append(out, *p)
	}
	if explicit.cs != nil {
		out = append(out, explicit)
	}
	if len(out) == 0 && a.last.cs != nil {
		out = append(out, a.last)
	}
	return out
}

// logger is the logger of r's own store (Share), or else that of the last
// order that used r.
func (r *HTTPResponder) logger() *slog.Logger {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.fleet.cs != nil {
		return r.fleet.logger()
	}
	return r.attached.last.logger()
}

// lookupAny asks each store in turn for the answer to a challenge: the
// first found, or "" when none holds it.
func lookupAny(ctx context.Context, fleets []fleet, kind, key string) string {
	for _, f := range fleets {
		if ka := f.lookup(ctx, kind, key); ka != "" {
			return ka
		}
	}
	return ""
}

// httpOrder is the http-01 provider of one order on a shared responder: the
// responder answers its tokens, and they are published to the order's
// store.
type httpOrder struct {
	r *HTTPResponder
	f fleet
}

// forOrder attaches the store cs of an order to r and returns the order's
// provider and the function that detaches it, to call when the order is
// done.
func (r *HTTPResponder) forOrder(cs ChallengeStore, log *slog.Logger) (*httpOrder, func()) {
	f := fleet{cs, log}
	r.mu.Lock()
	p := r.attached.add(f)
	r.mu.Unlock()
	return &httpOrder{r, f}, func() {
		r.mu.Lock()
		r.attached.remove(p)
		r.mu.Unlock()
	}
}

// Present makes the responder answer token and publishes it to the order's
// store.
func (o *httpOrder) Present(domain, token, keyAuth string) error {
	addr := o.r.hold(token, keyAuth)
	o.f.logger().Debug("http-01 token presented", "domain", domain, "addr", addr)
	return o.f.publish(HTTP01, token, keyAuth)
}

// CleanUp forgets token and retracts it from the order's store.
func (o *httpOrder) CleanUp(domain, token, keyAuth string) error {
	o.r.drop(token)
	o.f.retract(HTTP01, token, keyAuth)
	return nil
}

// tlsOrder is the tls-alpn-01 provider of one order on a shared responder,
// as [httpOrder] is for http-01.
type tlsOrder struct {
	r *TLSALPNResponder
	f fleet
}

// forOrder attaches the store cs of an order to r, as
// [HTTPResponder.forOrder] does.
func (r *TLSALPNResponder) forOrder(cs ChallengeStore, log *slog.Logger) (*tlsOrder, func()) {
	f := fleet{cs, log}
	r.mu.Lock()
	p := r.attached.add(f)
	r.mu.Unlock()
	return &tlsOrder{r, f}, func() {
		r.mu.Lock()
		r.attached.remove(p)
		r.mu.Unlock()
	}
}

// Present installs the challenge certificate for domain and publishes its
// key authorization to the order's store.
func (o *tlsOrder) Present(domain, token, keyAuth string) error {
	name, err := o.r.hold(domain, keyAuth)
	if err != nil {
		return err
	}
	return o.f.publish(TLSALPN01, name, keyAuth)
}

// CleanUp removes the challenge certificate for domain and retracts it from
// the order's store.
func (o *tlsOrder) CleanUp(domain, token, keyAuth string) error {
	o.f.retract(TLSALPN01, o.r.drop(domain), keyAuth)
	return nil
}
