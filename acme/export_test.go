package acme

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"
)

// OnPortBusy makes the shared responders call f each time they find their
// port held by someone else and wait for it, until t ends.
func OnPortBusy(t testing.TB, f func(addr string)) {
	portBusyHook.Store(&f)
	t.Cleanup(func() { portBusyHook.Store(nil) })
}

// SetBindWait makes acquiring a shared responder wait at most d for a busy
// port, until t ends.
func SetBindWait(t testing.TB, d time.Duration) {
	old := bindWait
	bindWait = d
	t.Cleanup(func() { bindWait = old })
}

// ParseLeaf parses the first certificate of c.
func ParseLeaf(c *tls.Certificate) (*x509.Certificate, error) {
	return x509.ParseCertificate(c.Certificate[0])
}
