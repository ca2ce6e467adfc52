package acme

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/go-acme/lego/v4/challenge"
	"github.com/go-acme/lego/v4/challenge/dns01"
	"github.com/go-acme/lego/v4/challenge/http01"
	"github.com/go-acme/lego/v4/lego"
	"github.com/go-acme/lego/v4/providers/dns"
	"github.com/go-acme/lego/v4/providers/http/webroot"
)

// Challenge types, the values of [Challenge.Type].
const (
	// HTTP01 serves a token over HTTP on port 80 (the default).
	HTTP01 = "http-01"
	// DNS01 publishes a TXT record; the only type for wildcard names.
	DNS01 = "dns-01"
	// TLSALPN01 answers a TLS handshake on port 443 with a special certificate.
	TLSALPN01 = "tls-alpn-01"
)

// DNSProvider publishes DNS-01 TXT records. Any lego DNS provider has this
// method set; Timeout, when implemented, bounds propagation checks.
type DNSProvider interface {
	Present(domain, token, keyAuth string) error
	CleanUp(domain, token, keyAuth string) error
}

// Challenge says how the CA is to validate control of the names.
type Challenge struct {
	// Type is http-01 (default), dns-01 or tls-alpn-01.
	Type string
	// HTTPAddr is where the shared HTTP-01 responder listens (default ":80")
	// while orders of this process need it.
	HTTPAddr string
	// HTTPResponder, if set, serves HTTP-01 tokens instead of the shared one
	// (for servers that mount it on their own port 80).
	HTTPResponder *HTTPResponder
	// Webroot, if set, makes HTTP-01 write tokens under
	// WEBROOT/.well-known/acme-challenge/ for an existing web server.
	Webroot string
	// DNSProvider names a lego DNS provider (credentials in its environment
	// variables), used for dns-01.
	DNSProvider string
	// DNS, if set, is used for dns-01 instead of a provider looked up by name.
	DNS DNSProvider
	// DNSResolvers are the recursive resolvers ("host:port") used to check
	// that TXT records propagated. Empty means the system's.
	DNSResolvers []string
	// TLSAddr is where the shared TLS-ALPN-01 responder listens (default ":443").
	TLSAddr string
	// Shared, if set, links the http-01 or tls-alpn-01 responder to a fleet:
	// the answers of this order are published there, so that any node the
	// CA's validation reaches can answer them, and the responder answers
	// those of other nodes' orders too. Webroot and dns-01 ignore it.
	Shared ChallengeStore
}

// CheckChallenge validates the challenge settings for names without
// contacting anyone; a DNS provider name is looked up in lego's registry.
func CheckChallenge(ch Challenge, names []string) error {
	switch ch.Type {
	case "", HTTP01, TLSALPN01:
		if HasWildcard(names) {
			return fmt.Errorf("%w: wildcard names need the dns-01 challenge", ErrBadChallenge)
		}
	case DNS01:
		if ch.DNS == nil && ch.DNSProvider == "" {
			return fmt.Errorf("%w: %w", ErrBadChallenge, ErrNoDNSProvider)
		}
		if ch.DNS == nil {
			if _, err := dns.NewDNSChallengeProviderByName(ch.DNSProvider); err != nil {
				// lego gives an unknown name no error type of its own (and
				// exports no list of names): its text is all there is.
				if strings.Contains(err.Error(), "unrecognized DNS provider") {
					return fmt.Errorf("%w: unknown DNS provider %q", ErrBadChallenge, ch.DNSProvider)
				}
				return fmt.Errorf("%w: DNS provider %s: %v", ErrBadChallenge, ch.DNSProvider, err)
			}
		}
	default:
		return fmt.Errorf("%w: unknown challenge %q (want http-01, dns-01 or tls-alpn-01)", ErrBadChallenge, ch.Type)
	}
	return nil
}

// setSolver configures lego for ch and returns what releases the shared
// responders it took. log receives the failures of a fleet's store that
// are not returned.
func setSolver(ctx context.Context, lc *lego.Client, ch Challenge, log *slog.Logger) (func(), error) {
	none := func() {}
	switch ch.Type {
	case "", HTTP01:
		switch {
		case ch.Webroot != "":
			wp, err := webroot.NewHTTPProvider(ch.Webroot)
			if err != nil {
				return nil, fmt.Errorf("webroot %s: %w", ch.Webroot, err)
			}
			return none, lc.Challenge.SetHTTP01Provider(wp, http01.SetDelay(0))
		case ch.HTTPResponder != nil:
			if ch.Shared != nil {
				ch.HTTPResponder.shareIfAlone(ch.Shared, log)
			}
			return none, lc.Challenge.SetHTTP01Provider(ch.HTTPResponder, http01.SetDelay(0))
		}
		r, release, err := AcquireHTTPResponder(ctx, ch.HTTPAddr)
		if err != nil {
			return nil, err
		}
		if ch.Shared != nil {
			r.shareIfAlone(ch.Shared, log)
		}
		return release, lc.Challenge.SetHTTP01Provider(r, http01.SetDelay(0))
	case TLSALPN01:
		r, release, err := AcquireTLSALPNResponder(ctx, ch.TLSAddr)
		if err != nil {
			return nil, err
		}
		if ch.Shared != nil {
			r.shareIfAlone(ch.Shared, log)
		}
		return release, lc.Challenge.SetTLSALPN01Provider(r)
	case DNS01:
		var p challenge.Provider = ch.DNS
		if p == nil {
			dp, err := dns.NewDNSChallengeProviderByName(ch.DNSProvider)
			if err != nil {
				return nil, fmt.Errorf("%w: DNS provider %s: %v", ErrBadChallenge, ch.DNSProvider, err)
			}
			p = dp
		}
		var opts []dns01.ChallengeOption
		if len(ch.DNSResolvers) > 0 {
			opts = append(opts, dns01.AddRecursiveNameservers(dns01.ParseNameservers(ch.DNSResolvers)),
				dns01.DisableAuthoritativeNssPropagationRequirement())
		}
		return none, lc.Challenge.SetDNS01Provider(p, opts...)
	}
	return nil, fmt.Errorf("%w: unknown challenge %q", ErrBadChallenge, ch.Type)
}
