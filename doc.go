// Package certctl is the embedder's facade: one import gives a Go server
// certificates that are obtained, stored, renewed and swapped in while it
// runs.
//
//	err := certctl.HTTPS(ctx, &certctl.Config{Email: "ops@example.com", AgreeTOS: true},
//		[]string{"example.com", "www.example.com"}, handler)
//
// Its types: [Config] (every zero value documented: the default store path or
// any store URL, Let's Encrypt, ec256 keys, tls-alpn-01, the Intermediate TLS
// policy) and [OnDemand], the policy of issuance during the first handshake
// for a name; [Manager], created by [New] and stopped by [Manager.Close],
// whose [Manager.Manage] obtains certificates (or keeps the stored ones),
// [Manager.TLSConfig] serves them to any http.Server, tls.Listen or gRPC
// server and answers TLS-ALPN-01 inside its handshakes (no port 80 needed),
// and [Manager.HTTPHandler] answers HTTP-01; [HTTPS] is the one-call server
// on ports 80 and 443. A Manager reports [Event]s of an [EventType]
// (obtained, renewed, failed, expiring) to Config.OnEvent, and Prometheus
// series of what it actually serves to Config.Metrics. Errors of on-demand
// issuance match the sentinels of errors.go ([ErrDenied], [ErrRateLimited],
// [ErrBackoff], [ErrBadServerName]).
//
// The facade only wires the public packages together, which remain there
// for callers who want control: store (the records; bbolt or etcd), renew
// (the policy, Service and Manager), acme (the ACME client and challenge
// responders) and bindings (the hot-reload binder). Programs that wire them
// by hand use [BinderSource], which lets a [bindings.Binder] follow a store
// (pushed as changes are committed when the store is etcd, polled
// otherwise).
//
// For a fleet of servers sharing one store behind a load balancer, every
// node answers every challenge, as with certmagic: a Manager's handlers do
// so, and for hand-wired servers [ChallengeHandler] on port 80 answers the
// HTTP-01 tokens any node published and [TLSALPNChallenges] wraps a port-443
// tls.Config to answer TLS-ALPN-01 validations. [SessionTickets] (or
// [ShareSessionTickets]) shares TLS session ticket keys through the store, so
// a client resumes its session on any node.
//
// The facade links no DNS provider: a program that needs dns-01 by provider
// name imports github.com/certctl/certctl/acme/dnsproviders.
package certctl
