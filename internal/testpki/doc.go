// Package testpki makes certificates for tests: a [CA] (a root or an
// intermediate) issues a [Leaf] described by a [LeafSpec]; [NewKey] and
// [NewRSAKey] make keys. [ServeTLS] starts a TLS [Server] on 127.0.0.1 that
// reports each server-side handshake. Its functions take a [TB] (a
// *testing.T or *testing.B) and fail the test on error, so that test code
// stays short; the package itself does not import testing.
package testpki
