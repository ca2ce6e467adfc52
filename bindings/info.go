package bindings

import (
	"crypto/tls"
	"slices"
	"strings"
	"time"
)

// Binding describes one installed certificate, as [Binder.Bindings] reports
// it: what is actually served, for metrics and status pages.
type Binding struct {
	// Name is the binding's name (a certificate's name in a store).
	Name string
	// Names are the server names it serves, normalized (lower case, no
	// trailing dot; "*.example.com" for a wildcard).
	Names []string
	// Serial is the leaf's serial in lower-case hex, as [Binder.Serial].
	Serial string
	// NotAfter is the end of the leaf's validity.
	NotAfter time.Time
	// Certificate is the value GetCertificate returns for these names. It
	// is shared with the binder: read it, never modify it.
	Certificate *tls.Certificate
}

// Bindings returns every installed binding, sorted by name. It takes the
// writers' lock briefly; handshakes are not slowed.
func (b *Binder) Bindings() []Binding {
	b.mu.Lock()
	out := make([]Binding, 0, len(b.w.byName))
	for _, e := range b.w.byName {
		out = append(out, Binding{Name: e.name, Names: slices.Clone(e.names), Serial: serialHex(e.cert.Leaf),
			NotAfter: e.cert.Leaf.NotAfter, Certificate: e.cert})
	}
	b.mu.Unlock()
	slices.SortFunc(out, func(x, y Binding) int { return strings.Compare(x.Name, y.Name) })
	return out
}
