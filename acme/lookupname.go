package acme

import (
	"context"
	"slices"
)

// LookupName is certctl's own look at name before any validation (what
// `certctl doctor` checks): its A and AAAA records at resolvers, and this
// host's addresses, so that [Lookup.Here] tells whether the CA would reach
// this host. listen is the responder's address (":80", "127.0.0.1:5002";
// "" for every address of this host). The look is bounded by ctx and by
// the same timeouts as the look after a failed validation.
func LookupName(ctx context.Context, resolvers []string, name, listen string) *Lookup {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	l := &Lookup{Resolvers: slices.Clone(resolvers), Listen: listenAddr(listen), Host: hostAddrs()}
	l.Addrs, l.Err = lookupAddrs(ctx, resolvers, name)
	return l
}
