// Package certctl is the embedder's facade: it wires certctl's packages
// together for a Go program that serves TLS with certificates certctl
// manages. More comes here later (a configuration, one call to manage
// certificates and get a TLS config); today it holds [BinderSource], which
// lets a [bindings.Binder] follow a [store.DB] so that renewals made by any
// process reach the running server (pushed as they are committed when the
// store is etcd, polled otherwise).
//
// For a fleet of servers sharing one store behind a load balancer, every
// node answers every challenge, as with certmagic: [ChallengeHandler] on its
// port 80 answers the HTTP-01 tokens any node published, and
// [TLSALPNChallenges] wraps its port-443 tls.Config to answer TLS-ALPN-01
// validations. [SessionTickets] (or [ShareSessionTickets]) shares TLS
// session ticket keys through the store, so a client resumes its session on
// any node.
//
// The packages it joins do not know each other: store depends only on
// bbolt (and the etcd client) and bindings only on the standard library.
package certctl
