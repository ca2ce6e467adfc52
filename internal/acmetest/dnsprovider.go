package acmetest

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"
)

// DNSProvider publishes DNS-01 records in the shared test DNS server. It has
// the method set of a lego DNS provider (and of acme.DNSProvider), so a
// client solving dns-01 against a Server can use it directly; point the
// client's propagation check at [Server.DNSAddr]. It is safe for concurrent
// use.
type DNSProvider struct{ s *Server }

// DNSProvider returns the DNS-01 provider that writes to s's DNS server.
func (s *Server) DNSProvider() DNSProvider { return DNSProvider{s} }

// Present publishes the TXT record of RFC 8555 section 8.4 for domain:
// at _acme-challenge.DOMAIN, the unpadded base64url SHA-256 of keyAuth.
func (p DNSProvider) Present(domain, _, keyAuth string) error {
	sum := sha256.Sum256([]byte(keyAuth))
	p.s.SetTXT(challengeFQDN(domain), base64.RawURLEncoding.EncodeToString(sum[:]))
	return nil
}

// CleanUp removes the TXT records published for domain.
func (p DNSProvider) CleanUp(domain, _, _ string) error {
	p.s.ClearTXT(challengeFQDN(domain))
	return nil
}

// Timeout bounds the client's wait for the record to be visible (10 s) and
// sets how often it looks (10 ms): the record is visible at once, and lego
// would otherwise wait seconds between checks.
func (DNSProvider) Timeout() (timeout, interval time.Duration) {
	return 10 * time.Second, 10 * time.Millisecond
}

// challengeFQDN returns the name of domain's DNS-01 record. The test DNS
// server has no CNAME records, so unlike lego it follows none.
func challengeFQDN(domain string) string {
	return "_acme-challenge." + strings.TrimPrefix(domain, "*.") + "."
}
