package acme

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-acme/lego/v4/challenge/tlsalpn01"
)

// ChallengeStore is where the nodes of a fleet publish the answers to their
// pending challenges, so that whichever node the CA's validation request
// reaches (through a load balancer) can answer it. A challenge is named by
// its kind, [HTTP01] or [TLSALPN01], and its key: the token for http-01,
// the domain (lower case) for tls-alpn-01. Its value is the key
// authorization.
//
// Contract: the methods are safe for concurrent use and honour ctx.
// PublishChallenge replaces any answer under the same kind and key, and the
// answer disappears by itself after about ttl (a node that dies does not
// leave it behind). LookupChallenge returns an error wrapping
// [ErrNoChallenge] when no answer is pending. RetractChallenge removes the
// answer if it is still keyAuth (another order may have replaced it), and a
// missing one is no error.
type ChallengeStore interface {
	PublishChallenge(ctx context.Context, kind, key, keyAuth string, ttl time.Duration) error
	LookupChallenge(ctx context.Context, kind, key string) (keyAuth string, err error)
	RetractChallenge(ctx context.Context, kind, key, keyAuth string) error
}

// ErrNoChallenge reports that a [ChallengeStore] holds no pending answer for
// a challenge.
var ErrNoChallenge = errors.New("no pending challenge")

// ChallengeTTL is how long a published answer lives unless retracted
// earlier: longer than any validation takes, short enough that the answers of
// a node that died mid-order soon disappear.
const ChallengeTTL = 10 * time.Minute

// Timeouts of a responder's store operations. lego's Present and CleanUp
// take no context, so publishing has a bound of its own; a lookup serves a
// CA's request, which it must answer quickly or not at all.
const (
	publishTimeout      = 10 * time.Second
	sharedLookupTimeout = 2 * time.Second
)

// fleet is a responder's link to its fleet: the store its answers are
// published to and looked up in, and the logger of the failures that are
// not returned. The zero value is a responder on its own.
type fleet struct {
	cs  ChallengeStore
	log *slog.Logger
}

// publish stores keyAuth in the fleet's store, if any.
func (f fleet) publish(kind, key, keyAuth string) error {
	cs := f.cs
	if cs == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	if err := cs.PublishChallenge(ctx, kind, key, keyAuth, ChallengeTTL); err != nil {
		return fmt.Errorf("%s %s: publishing to the fleet: %w", kind, key, err)
	}
	return nil
}

// retract removes keyAuth from the fleet's store, if any. A failure is only
// logged: the answer expires by itself.
func (f fleet) retract(kind, key, keyAuth string) {
	cs := f.cs
	if cs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	if err := cs.RetractChallenge(ctx, kind, key, keyAuth); err != nil {
		f.logger().Warn("retracting a challenge answer failed; it expires by itself",
			"kind", kind, "key", key, "error", err)
	}
}

// lookup asks the fleet's store for the answer to a challenge this node
// does not hold: "" when there is none, no store, or no answer in time.
func (f fleet) lookup(ctx context.Context, kind, key string) string {
	cs := f.cs
	if cs == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, sharedLookupTimeout)
	defer cancel()
	ka, err := cs.LookupChallenge(ctx, kind, key)
	if err != nil {
		if !errors.Is(err, ErrNoChallenge) {
			f.logger().Warn("looking up a fleet's challenge answer failed", "kind", kind, "key", key, "error", err)
		}
		return ""
	}
	return ka
}

// validToken reports whether s can be an ACME token (base64url, RFC 8555
// section 8.3), so that requests for anything else never reach the store.
func validToken(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// validDomain reports whether s (lower case) can be a DNS name.
func validDomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// IsTLSALPNChallenge reports whether hello is a CA's TLS-ALPN-01 validation
// handshake: it offers only the acme-tls/1 protocol (RFC 8737 section 3).
func IsTLSALPNChallenge(hello *tls.ClientHelloInfo) bool {
	return len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == tlsalpn01.ACMETLS1Protocol
}

// ALPNProto is the ALPN protocol name of TLS-ALPN-01 validation
// handshakes, "acme-tls/1": a server answering them lists it in its
// tls.Config's NextProtos.
const ALPNProto = tlsalpn01.ACMETLS1Protocol

// lowerName is the key of a tls-alpn-01 challenge for a server name.
func lowerName(s string) string { return strings.TrimSuffix(strings.ToLower(s), ".") }

func (f fleet) logger() *slog.Logger {
	if f.log != nil {
		return f.log
	}
	return slog.New(slog.DiscardHandler)
}
