// Package acme obtains, renews and revokes certificates from an ACME CA
// (Let's Encrypt or any RFC 8555 server) on top of lego. No lego type leaves
// this package.
//
// Its few types: [Client] talks to one directory on behalf of one [Account];
// [Request] describes an order and [Challenge] how to prove control of its
// names; [Certificate] is what comes back, checked by [Certificate.Validate]
// before anyone uses it; [RenewalInfo] is a CA's ARI (RFC 9773) answer.
// [HTTPResponder] and [TLSALPNResponder] are the process-wide challenge
// servers that let many concurrent orders share one port; orders acquire
// them ([AcquireHTTPResponder]) and the port is released when none needs it,
// so another process (the CLI beside a daemon) can use it in turn. In a
// fleet behind a load balancer, a [ChallengeStore] ([Challenge].Shared,
// [HTTPResponder.Share]) publishes each answer for the other nodes and lets
// every responder answer theirs. Failures come back as [*RateLimitedError],
// [*ValidationError], [*PropagationError], [*UnreachableError] or
// [*PortBusyError] where the caller needs their data, otherwise wrapping the
// sentinels in errors.go. A [*ValidationError] carries what certctl found
// out itself: the URL the CA asked and the webroot file written, and, when
// [Config.Resolvers] are set, a [Lookup] of the name (its addresses next to
// this host's, the CAA records that refused).
//
// # Files
//
//   - config.go: [Config] (which CA, HTTP client, logger) and the one place
//     that builds a lego client from it; runCtx, which bounds lego v4's
//     context-free calls by a context.
//   - account.go: [Account], [LoadAccount], [Register] and [RegisterOptions]
//     (terms of service, external account binding).
//   - client.go: [Client] and [NewClient]; [Client.Obtain] for a [Request],
//     [Client.Revoke] with [RevocationReasons], [Client.RenewalInfo] and
//     [CertID] for ARI.
//   - challenge.go: the challenge types ([HTTP01], [DNS01], [TLSALPN01]),
//     [Challenge], [CheckChallenge], [DNSProvider], and how an order's
//     solver is set up from them: the webroot writer, the record of tokens
//     presented, the dns-01 propagation check that reports
//     [*PropagationError].
//   - dnsregistry.go: [SetDNSProviderLookup], the hook through which a DNS
//     provider named in a [Challenge] is found. acme links no provider;
//     importing acme/dnsproviders installs lego's registry (the CLI does).
//   - responder.go: the shared HTTP-01 and TLS-ALPN-01 responders, and what
//     acquiring one does when its port is busy: wait for another certctl
//     process to release it, or fail at once with [*PortBusyError] when
//     internal/portowner finds another program holding it; a port the
//     process may not bind fails with [ErrPortPrivileged].
//   - overlap.go: certctl processes overlapping on one HTTP-01 port: a
//     process whose port another certctl process holds publishes its tokens
//     in the shared store for the holder to answer (after checking over
//     loopback that it does; otherwise it waits for the port as before), and
//     the holder lingers until those tokens are retracted
//     ([WaitLingering]).
//   - retryafter.go: every Retry-After of a 429 or 503 answer is honoured:
//     the order's next request waits for it (at most 30 s; past that it is
//     not sent), and a failed order carries it ([*BusyError], [RetryAfter])
//     so that the renewal is not retried before it.
//   - timings.go: [Timings] of an order's steps, measured by a transport that
//     follows the order's URLs; it also starts lego's authorization polls at
//     1 s when the CA sends no Retry-After.
//   - shared.go: [ChallengeStore], what a fleet shares of its pending
//     challenges, [ChallengeTTL], and [IsTLSALPNChallenge] for servers that
//     answer TLS-ALPN-01 on their own port 443.
//   - errors.go: the sentinels and typed errors callers test with errors.Is
//     and errors.As.
//   - classify.go: how lego's errors become those, by their types: lego's
//     rate-limit and problem documents, its per-domain challenge errors
//     (which name the failed domain of a [*ValidationError]), network errors
//     ([*UnreachableError]); and whether a refused order may be retried
//     without "replaces".
//   - lookup.go: [Lookup], [SystemResolvers], and the DNS queries (miekg/dns,
//     as lego's own checks) made after a failed validation; lookupname.go:
//     [LookupName], the same look before any validation (certctl doctor).
//   - certificate.go: [KeyType], [Certificate] and its checks; the PEM
//     parsing itself is internal/certpem's.
//   - names.go: [NormalizeDomains] and friends; directory.go: [ResolveDirectory],
//     [NewHTTPClient] and CA trust; log.go: lego's logger routed to slog.
package acme
