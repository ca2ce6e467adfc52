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
// so another process (the CLI beside a daemon) can use it in turn. Failures come back
// as [*RateLimitedError], [*ValidationError] or [*UnreachableError] where the
// caller needs their data, otherwise wrapping the sentinels in errors.go.
package acme
