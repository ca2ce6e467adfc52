package certctl

import (
	"crypto/tls"
	"net/http"
	"strings"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// ChallengeHandler returns a handler for a node's port-80 server that answers
// the HTTP-01 challenges of the whole fleet: a request under
// /.well-known/acme-challenge/ gets the key authorization that any node
// sharing s published for its token (certctl publishes them when the
// ordering service's Solvers.Shared is set, as the CLI and the daemon do),
// or 404. Every other request goes to next; a nil next answers 404.
//
// This is how a fleet behind a load balancer passes HTTP-01, as with
// certmagic: the CA's request may reach any node, and every node answers
// every pending challenge found in the shared store, whether or not it
// placed the order. Nothing is cached: each request reads s (within two
// seconds), and an answer disappears from s when its order ends or
// [acme.ChallengeTTL] after it was published.
func ChallengeHandler(s store.Shared, next http.Handler) http.Handler {
	r := acme.NewHTTPResponder()
	r.Share(renew.SharedChallenges(s), nil)
	return challengeHandler(r, next)
}

// challengeHandler answers HTTP-01 requests with r and passes the rest to
// next (nil: 404).
func challengeHandler(r *acme.HTTPResponder, next http.Handler) http.Handler {
	if next == nil {
		next = http.NotFoundHandler()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, "/.well-known/acme-challenge/") {
			r.ServeHTTP(w, req)
			return
		}
		next.ServeHTTP(w, req)
	})
}

// TLSALPNChallenges returns a copy of cfg that also answers the TLS-ALPN-01
// challenges of the whole fleet, for a node's port-443 server (typically
// cfg is a [bindings.Binder]'s TLSConfig): a handshake that is a CA's
// validation (it offers only the acme-tls/1 protocol, which no browser
// does) gets the challenge certificate built from the key authorization that
// any node sharing s published for its server name, or fails when there is
// none. Every other handshake goes on as cfg says, including cfg's own
// GetConfigForClient.
func TLSALPNChallenges(cfg *tls.Config, s store.Shared) *tls.Config {
	r := acme.NewTLSALPNResponder()
	r.Share(renew.SharedChallenges(s), nil)
	return withALPN(cfg, r)
}

// withALPN returns a copy of cfg whose TLS-ALPN-01 validations r answers.
func withALPN(cfg *tls.Config, r *acme.TLSALPNResponder) *tls.Config {
	challenge := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{acme.ALPNProto},
		GetCertificate: r.GetCertificate,
	}
	out := cfg.Clone()
	next := cfg.GetConfigForClient
	out.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if acme.IsTLSALPNChallenge(hello) {
			return challenge, nil
		}
		if next == nil {
			return nil, nil // cfg itself
		}
		return next(hello)
	}
	return out
}
