package acme

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/httplimit"
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

// SetResponderLimits makes responders started from now until t ends use l.
func SetResponderLimits(t testing.TB, l httplimit.Limits) {
	old := responderLimits
	responderLimits = l
	t.Cleanup(func() { responderLimits = old })
}

// ListenTLSALPN makes r listen on addr as the shared responder does and
// returns the address it listens on.
func ListenTLSALPN(r *TLSALPNResponder, addr string) (string, error) {
	if err := r.listen(addr); err != nil {
		return "", err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.ln.Addr().String(), nil
}
