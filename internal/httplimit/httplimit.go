package httplimit

import (
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Limits bound the connections of one server. A zero field means no limit
// for that field (a zero Idle means Read's, as in http.Server); use
// [Responder] or [Metrics] rather than a zero value.
type Limits struct {
	// ReadHeader bounds reading a request's headers (a slow-loris client).
	ReadHeader time.Duration
	// Read bounds reading a whole request, body included.
	Read time.Duration
	// Write bounds writing a response, from the end of the request headers.
	Write time.Duration
	// Idle bounds how long a keep-alive connection may wait for its next
	// request.
	Idle time.Duration
	// MaxConns caps the connections open at once; further clients wait in
	// the kernel's backlog until one closes.
	MaxConns int
}

// Responder are the limits of an ACME challenge responder: a CA's
// validation is one small GET, answered at once.
var Responder = Limits{ReadHeader: 5 * time.Second, Read: 5 * time.Second, Write: 5 * time.Second,
	Idle: 5 * time.Second, MaxConns: 128}

// Metrics are the limits of the daemon's /metrics and /healthz server:
// a few scrapers and health checks on a local address.
var Metrics = Limits{ReadHeader: 5 * time.Second, Read: 10 * time.Second, Write: 30 * time.Second,
	Idle: 60 * time.Second, MaxConns: 32}

// Server returns an http.Server serving h with l's timeouts.
func Server(h http.Handler, l Limits) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: l.ReadHeader, ReadTimeout: l.Read,
		WriteTimeout: l.Write, IdleTimeout: l.Idle}
}

// Listener returns ln capped at l.MaxConns connections open at once (ln
// itself when MaxConns is zero).
func Listener(ln net.Listener, l Limits) net.Listener {
	if l.MaxConns <= 0 {
		return ln
	}
	return netutil.LimitListener(ln, l.MaxConns)
}
