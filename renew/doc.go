// Package renew decides when certificates are due and renews them.
//
// Its few types: [Policy] is the pure renewal rule (ARI window, else a third
// of the lifetime left, half for short-lived certificates, with per-certificate
// jitter) and its [Decision]; [Service] issues, renews, revokes and rolls back
// certificates kept in a store, each under its per-certificate lock, and
// reports a [Result] per certificate.
package renew
