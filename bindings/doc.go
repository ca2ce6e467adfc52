// Package bindings serves TLS certificates that can be replaced while a server
// runs, without dropping a connection.
//
// A [Binder] keeps an immutable snapshot of server name -> certificate behind an
// atomic pointer. Its GetCertificate method, wired into a [crypto/tls.Config] by
// [Binder.TLSConfig], does a lock-free lookup per handshake (an exact name,
// then a wildcard: at most two map reads) and allocates nothing when the name
// is known. [Binder.Set] validates a certificate (key pair, validity period,
// names, chain) and only then builds a new snapshot and swaps the pointer: open
// connections keep the certificate they negotiated, new handshakes get the new
// one, and a certificate that fails validation is never served.
//
// The other types: [Binding] describes what is served ([Binder.Bindings]);
// [Options] configures a Binder (nil means defaults); [Policy] chooses TLS versions and cipher suites ([Modern], [Intermediate]) and optional
// client-certificate authentication through a [ClientAuth], whose CA pool can be
// reloaded as well; [Source] is what [Binder.Watch] and [Binder.Sync] follow to
// pick up certificates renewed by another process: a generation counter, a
// revision per certificate, and a batch read giving one [Loaded] per
// certificate (the certctl package makes a store one). Sync validates the
// certificates it reads on GOMAXPROCS goroutines, and skips the chain
// signatures a source vouches for ([Loaded].ChainVerified; never the key
// match, dates or names). A Source that is also
// a [Notifier] pushes its changes: Watch then syncs on each notification and
// polls only as a safety net ([SafetyPoll]).
//
// For servers that are not Go programs, package
// github.com/certctl/certctl/export writes certificates to files and runs
// their reload commands. Package bindings imports no other certctl package.
package bindings
