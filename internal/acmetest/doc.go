// Package acmetest runs a real ACME certificate authority inside the current
// process: Let's Encrypt's Pebble (packages ca, db, va and wfe) behind an
// HTTPS listener on the loopback interface, plus one process-wide
// challtestsrv DNS server that Pebble's validation authority uses as its
// resolver.
//
// It serves the tests of other certctl packages and the `certctl sandbox`
// command, so it is ordinary production code that imports neither package
// testing nor lego outside its tests: [StartT] takes a [TB], the three
// methods of testing.TB it uses.
//
// [Options] configures a CA; its zero value is a CA with one profile
// ("default", 90-day certificates) listening on a free port of 127.0.0.1.
// [Server] is a running CA, created by [Start] (or [StartT] in a test) and
// stopped by [Server.Close]. Besides the ACME endpoints it exposes Pebble's
// management interface (issuing root, certificate status, forced ARI
// answers), counts newOrder requests and can refuse the next ones on demand.
// [DNSProvider], from [Server.DNSProvider], solves dns-01 challenges through
// the test DNS server for any client with lego's provider method set.
//
// Files: server.go ([Options], [Server], [Start]); handler.go (what sits in
// front of Pebble: synchronous challenges and finalization, refused orders);
// caa.go (the CAA check Pebble lacks); inflight.go (the orders in flight,
// [Server.OrdersInFlight]);
// management.go (Pebble's management API); dns.go (the shared DNS server)
// and dnsprovider.go ([DNSProvider]); tlscert.go (the HTTPS endpoint's
// certificate); logging.go; errors.go; startt.go ([StartT], [TB]).
//
// # Layout of one Server
//
// One TLS listener (default 127.0.0.1:0) serves the ACME API at
// [Server.DirectoryURL] ("https://127.0.0.1:PORT/dir") and Pebble's
// management API under the path prefix [ManagementPrefix]
// ("https://127.0.0.1:PORT/management/roots/0", ...). Its certificate is
// issued by a private CA made at every start; [Server.ServerCAPEM] returns
// that CA and [Server.HTTPClient] trusts it.
//
// Pebble's validation authority dials http-01 challenges on
// 127.0.0.1:[Server.HTTPPort] and tls-alpn-01 challenges on
// 127.0.0.1:[Server.TLSPort]; the caller runs the responders there. Every
// name resolves to 127.0.0.1 (A) and to nothing (AAAA) through the shared
// DNS server at [Server.DNSAddr]; dns-01 records are set with
// [Server.SetTXT], or by [Server.DNSProvider] on a client's behalf. To
// produce validation failures, [Server.SetAddrs] gives a name other
// addresses or none, [Server.SetServFail] makes its queries fail, and
// [Server.SetCAA] adds CAA records, which the validation authority honours
// (Pebble itself ignores them: the handler fails a validated challenge with
// an ACME caa problem when they do not name [CAAIdentity]).
// [Server.ClearRecords] undoes them; the records are process-wide.
//
// # Speed
//
// Pebble validates challenges and issues certificates asynchronously. The
// handler in front of Pebble holds the answer to a challenge POST until the
// validation finished, and the answer to a finalize POST until the
// certificate is issued (each at most 10 s), and reports the final status.
// A client such as lego therefore never sleeps between polls, and one
// issuance takes tens of milliseconds.
package acmetest
