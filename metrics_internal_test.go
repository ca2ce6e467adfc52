package certctl

import (
	"crypto/tls"
	"testing"

	"github.com/certctl/certctl/bindings"
	"github.com/certctl/certctl/internal/testpki"
)

// The handshake counter remembers only the certificates still served: a
// renewed certificate is forgotten at the first handshake of its successor,
// instead of being kept alive for the life of the server.
func TestServed_ForgetsReplacedCertificates(t *testing.T) {
	ca := testpki.NewRoot(t, "served test root")
	b := bindings.New(nil)
	s := &served{m: &Manager{binder: b}, enabled: true}
	var previous *tls.Certificate
	for i := range 5 {
		leaf := ca.Issue(t, testpki.LeafSpec{Names: []string{"a.example"}})
		c := leaf.TLS()
		if err := b.SetCertificate("a.example", &c, []string{"a.example"}); err != nil {
			t.Fatal(err)
		}
		got, err := b.GetCertificate(&tls.ClientHelloInfo{ServerName: "a.example"})
		if err != nil {
			t.Fatal(err)
		}
		s.hit(got)
		s.hit(got)
		n := 0
		s.certs.Range(func(k, _ any) bool {
			n++
			if k.(*tls.Certificate) == previous {
				t.Errorf("renewal %d: the replaced certificate is still remembered", i)
			}
			return true
		})
		if n != 1 {
			t.Fatalf("renewal %d: %d certificates remembered, want 1", i, n)
		}
		previous = got
	}
	if got := s.byName["a.example"].Load(); got != 10 {
		t.Fatalf("handshakes counted %d, want 10", got)
	}
}
