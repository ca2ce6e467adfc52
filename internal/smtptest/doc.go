// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp) on
// 127.0.0.1 for tests: [Start] returns a [Server] that offers STARTTLS (or
// speaks TLS from the start) with a certificate made for it, accepts AUTH
// PLAIN for one user and password only after TLS, and hands every message
// it receives to the test as a [Message]. Only tests may import it.
package smtptest
