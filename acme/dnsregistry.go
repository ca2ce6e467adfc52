package acme

import (
	"fmt"
	"sync/atomic"
)

// DNSProviderLookup turns the name of a DNS provider ([Challenge].DNSProvider)
// into a provider, configured from the environment. An unknown name gives an
// error wrapping [ErrUnknownDNSProvider].
type DNSProviderLookup func(name string) (DNSProvider, error)

// dnsLookup is the lookup installed by SetDNSProviderLookup, nil when none.
var dnsLookup atomic.Pointer[DNSProviderLookup]

// SetDNSProviderLookup installs f as the process's way of finding DNS
// providers by name (nil removes it). Package acme links no DNS provider
// itself, so that a program answering http-01 or tls-alpn-01 carries none:
// importing github.com/certctl/certctl/acme/dnsproviders installs lego's
// registry of them (the certctl CLI does), and a program that knows its
// provider can instead set [Challenge].DNS (or renew.Solvers.DNS) to any
// value with the [DNSProvider] methods.
func SetDNSProviderLookup(f DNSProviderLookup) {
	if f == nil {
		dnsLookup.Store(nil)
		return
	}
	dnsLookup.Store(&f)
}

// lookupDNSProvider finds the provider called name through the installed
// lookup.
func lookupDNSProvider(name string) (DNSProvider, error) {
	f := dnsLookup.Load()
	if f == nil {
		return nil, fmt.Errorf("DNS provider %q: %w (import github.com/certctl/certctl/acme/dnsproviders, or give the provider itself)",
			name, ErrNoDNSRegistry)
	}
	return (*f)(name)
}
