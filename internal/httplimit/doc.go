// Package httplimit bounds what one client can hold of certctl's own HTTP
// servers (the HTTP-01 responder, the daemon's metrics server): [Limits]
// gives header, read, write and idle timeouts and a cap on concurrent
// connections; [Server] builds an http.Server with the timeouts and
// [Listener] caps a listener's connections (golang.org/x/net/netutil).
package httplimit
