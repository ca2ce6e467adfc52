package acme

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/go-acme/lego/v4/challenge"
	"github.com/go-acme/lego/v4/challenge/dns01"
	"github.com/go-acme/lego/v4/challenge/http01"
	"github.com/go-acme/lego/v4/lego"
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
	// TLSResponder, if set, answers TLS-ALPN-01 instead of the shared
	// responder on TLSAddr: for servers whose own port-443 listener answers
	// the validations (its GetCertificate in their tls.Config, for the
	// handshakes [IsTLSALPNChallenge] recognises).
	TLSResponder *TLSALPNResponder
	// Shared, if set, links the http-01 or tls-alpn-01 responder to a fleet:
	// the answers of this order are published there, so that any node the
	// CA's validation reaches can answer them, and the responder answers
	// those of other nodes' orders too. Webroot and dns-01 ignore it.
	Shared ChallengeStore
}

// CheckChallenge validates the challenge settings for names without
// contacting anyone; a DNS provider name is looked up in the registry that
// [SetDNSProviderLookup] installed.
func CheckChallenge(ch Challenge, names []string) error {
	switch ch.Type {
	case "", HTTP01, TLSALPN01:
		if HasWildcard(names) {
			return fmt.Errorf("%w: wildcard names need the dns-01 challenge", ErrBadChallenge)
		}
	case DNS01:
		if HasIP(names) {
			return fmt.Errorf("%w: IP addresses need the http-01 or tls-alpn-01 challenge (there is no DNS name to put a TXT record under)", ErrBadChallenge)
		}
		if ch.DNS == nil && ch.DNSProvider == "" {
			return fmt.Errorf("%w: %w", ErrBadChallenge, ErrNoDNSProvider)
		}
		if ch.DNS == nil {
			if _, err := lookupDNSProvider(ch.DNSProvider); err != nil {
				if errors.Is(err, ErrUnknownDNSProvider) {
					return fmt.Errorf("%w: unknown DNS provider %q", ErrBadChallenge, ch.DNSProvider)
				}
				return fmt.Errorf("%w: %w", ErrBadChallenge, err)
			}
		}
	default:
		return fmt.Errorf("%w: unknown challenge %q (want http-01, dns-01 or tls-alpn-01)", ErrBadChallenge, ch.Type)
	}
	return nil
}

// solver is what setSolver set up for one order.
type solver struct {
	// release releases the shared responders taken.
	release func()
	// tokens are the http-01 tokens presented, by domain.
	tokens tokenLog
	// listen is the one address certctl's responder listens on (zero when
	// it listens on every address, or another program answers).
	listen netip.Addr
}

// setSolver configures lego for ch. log receives the failures of a fleet's
// store that are not returned.
func setSolver(ctx context.Context, lc *lego.Client, ch Challenge, log *slog.Logger) (*solver, error) {
	s := &solver{release: func() {}}
	switch ch.Type {
	case "", HTTP01:
		var p challenge.Provider
		switch {
		case ch.Webroot != "":
			if _, err := os.Stat(ch.Webroot); err != nil {
				return nil, fmt.Errorf("webroot %s: %w", ch.Webroot, err)
			}
			p = webrootProvider{dir: ch.Webroot}
		case ch.HTTPResponder != nil:
			p = ch.HTTPResponder
			if ch.Shared != nil {
				p, s.release = ch.HTTPResponder.forOrder(ch.Shared, log)
			}
		default:
			dp, release, r, err := httpProvider(ctx, ch.HTTPAddr, ch.Shared, log)
			if err != nil {
				return nil, err
			}
			p, s.release = dp, release
			if r != nil {
				s.listen = listenAddr(r.Addr())
			}
		}
		return s, lc.Challenge.SetHTTP01Provider(loggedProvider{p, &s.tokens}, http01.SetDelay(0))
	case TLSALPN01:
		if r := ch.TLSResponder; r != nil {
			var p challenge.Provider = r
			if ch.Shared != nil {
				p, s.release = r.forOrder(ch.Shared, log)
			}
			return s, lc.Challenge.SetTLSALPN01Provider(p)
		}
		r, release, err := AcquireTLSALPNResponder(ctx, ch.TLSAddr)
		if err != nil {
			return nil, err
		}
		var p challenge.Provider = r
		s.release, s.listen = release, listenAddr(ch.TLSAddr)
		if ch.Shared != nil {
			var detach func()
			p, detach = r.forOrder(ch.Shared, log)
			s.release = func() { detach(); release() }
		}
		return s, lc.Challenge.SetTLSALPN01Provider(p)
	case DNS01:
		var p challenge.Provider = ch.DNS
		if p == nil {
			dp, err := lookupDNSProvider(ch.DNSProvider)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrBadChallenge, err)
			}
			p = dp
		}
		wait := dns01.DefaultPropagationTimeout
		if pt, ok := p.(challenge.ProviderTimeout); ok {
			wait, _ = pt.Timeout()
		}
		opts := []dns01.ChallengeOption{dns01.WrapPreCheck(propagationCheck(ch.DNSResolvers, wait))}
		if len(ch.DNSResolvers) > 0 {
			// The resolvers named are the ones to check: the record must be
			// visible at each of them, not at the zone's nameservers.
			opts = append(opts, dns01.DisableAuthoritativeNssPropagationRequirement(), dns01.RecursiveNSsPropagationRequirement())
		}
		legoNSMu.Lock()
		defer legoNSMu.Unlock()
		if ns := dns01.ParseNameservers(ch.DNSResolvers); len(ns) > 0 && !slices.Equal(ns, legoNS) {
			opts = append(opts, dns01.AddRecursiveNameservers(ns))
			legoNS = ns
		}
		return s, lc.Challenge.SetDNS01Provider(p, opts...)
	}
	return nil, fmt.Errorf("%w: unknown challenge %q", ErrBadChallenge, ch.Type)
}

var (
	// legoNSMu guards legoNS and the calls that may change lego's
	// resolvers.
	legoNSMu sync.Mutex
	// legoNS are the resolvers last given to lego's
	// dns01.AddRecursiveNameservers. lego v4 keeps them in one process-wide
	// variable that its checks read without a lock: setting it only when it
	// changes, under legoNSMu, keeps concurrent orders that name the same
	// resolvers (one daemon's certificates) from racing. Orders naming
	// different resolvers at the same time in one process still share
	// whichever was set last.
	legoNS []string
)

// propagationCheck wraps lego's check that a dns-01 record is visible so
// that each failed check is a [*PropagationError]: lego wraps the last one
// in the error it returns when its wait ran out, and gives that error no
// type of its own.
func propagationCheck(resolvers []string, wait time.Duration) dns01.WrapPreCheckFunc {
	return func(domain, fqdn, value string, check dns01.PreCheckFunc) (bool, error) {
		ok, err := check(fqdn, value)
		if ok {
			return ok, err
		}
		if err == nil {
			err = errors.New("record not found")
		}
		return false, &PropagationError{Domain: domain, FQDN: fqdn, Resolvers: slices.Clone(resolvers), Wait: wait, Err: err}
	}
}

// tokenLog records the http-01 tokens presented for each domain of an
// order; it is safe for concurrent use.
type tokenLog struct {
	mu sync.Mutex
	m  map[string]string
}

func (l *tokenLog) add(domain, token string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = make(map[string]string)
	}
	l.m[domain] = token
}

// get returns the last token presented for domain, or "".
func (l *tokenLog) get(domain string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[domain]
}

// loggedProvider is an http-01 provider that records the tokens it
// presents, so that a failure can name the URL the CA asked.
type loggedProvider struct {
	challenge.Provider
	log *tokenLog
}

// Present records the token and presents it.
func (p loggedProvider) Present(domain, token, keyAuth string) error {
	p.log.add(domain, token)
	return p.Provider.Present(domain, token, keyAuth)
}

// webrootProvider answers http-01 challenges with files under dir, which
// an existing web server serves.
type webrootProvider struct{ dir string }

// tokenPath is the file that answers token: DIR/.well-known/acme-challenge/TOKEN.
func tokenPath(dir, token string) string {
	return filepath.Join(dir, filepath.FromSlash(http01.ChallengePath(token)))
}

// Present writes the key authorization to the token's file, readable by
// the web server.
func (w webrootProvider) Present(_, token, keyAuth string) error {
	p := tokenPath(w.dir, token)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("webroot %s: %w", w.dir, err)
	}
	if err := os.WriteFile(p, []byte(keyAuth), 0o644); err != nil {
		return fmt.Errorf("webroot %s: writing the token: %w", w.dir, err)
	}
	return nil
}

// CleanUp removes the token's file.
func (w webrootProvider) CleanUp(_, token, _ string) error {
	if err := os.Remove(tokenPath(w.dir, token)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("webroot %s: removing the token: %w", w.dir, err)
	}
	return nil
}
