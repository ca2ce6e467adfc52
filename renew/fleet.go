package renew

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/store"
)

// Keys of the challenge answers in a store's shared values.
const (
	sharedHTTPPrefix = "acme-http/" // + token
	sharedTLSPrefix  = "acme-tls/"  // + domain
)

// SharedChallenges returns s as the [acme.ChallengeStore] of a fleet: an
// http-01 answer lives at "acme-http/TOKEN" and a tls-alpn-01 answer at
// "acme-tls/DOMAIN", each with the TTL it is published with (a lease on
// etcd), so the answers of a node that died disappear by themselves. A nil
// s gives nil.
func SharedChallenges(s store.Shared) acme.ChallengeStore {
	if s == nil {
		return nil
	}
	return sharedChallenges{s}
}

// sharedChallenges adapts a store.Shared to acme.ChallengeStore.
type sharedChallenges struct{ s store.Shared }

var _ acme.ChallengeStore = sharedChallenges{}

func sharedChallengeKey(kind, key string) (string, error) {
	switch kind {
	case acme.HTTP01:
		return sharedHTTPPrefix + key, nil
	case acme.TLSALPN01:
		return sharedTLSPrefix + key, nil
	}
	return "", fmt.Errorf("%w: no shared answers for %q challenges", acme.ErrBadChallenge, kind)
}

// PublishChallenge writes keyAuth, replacing any value: a compare-and-swap
// on the revision just read, tried again if another node wrote in between.
func (c sharedChallenges) PublishChallenge(ctx context.Context, kind, key, keyAuth string, ttl time.Duration) error {
	k, err := sharedChallengeKey(kind, key)
	if err != nil {
		return err
	}
	for {
		_, rev, err := c.s.GetShared(ctx, k)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		_, err = c.s.PutShared(ctx, k, []byte(keyAuth), rev, ttl)
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
	}
}

// LookupChallenge reads the answer, wrapping acme.ErrNoChallenge if none.
func (c sharedChallenges) LookupChallenge(ctx context.Context, kind, key string) (string, error) {
	k, err := sharedChallengeKey(kind, key)
	if err != nil {
		return "", err
	}
	v, _, err := c.s.GetShared(ctx, k)
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("%s: %w", k, acme.ErrNoChallenge)
	}
	if err != nil {
		return "", err
	}
	return string(v), nil
}

// RetractChallenge deletes the answer if it is still keyAuth. Between the
// read and the delete another node may publish a new answer for the same
// domain, which is then deleted too: that order fails validation and is
// retried, which is no worse than two orders answering for one domain at
// once on a single node.
func (c sharedChallenges) RetractChallenge(ctx context.Context, kind, key, keyAuth string) error {
	k, err := sharedChallengeKey(kind, key)
	if err != nil {
		return err
	}
	v, _, err := c.s.GetShared(ctx, k)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if string(v) != keyAuth {
		return nil
	}
	return c.s.DeleteShared(ctx, k)
}

// ServeChallenges keeps the process's HTTP-01 responder on addr (":80" if
// empty) listening until release is called, answering the tokens that any
// node of the fleet published in Solvers.Shared: behind a load balancer the
// CA's validation request may reach a node that is not ordering, and that
// node must answer it. The certificates ordered by this process meanwhile
// share the same listener. Without Solvers.Shared it only serves this
// process's own tokens.
func (s *Service) ServeChallenges(ctx context.Context, addr string) (release func(), err error) {
	r, release, err := acme.AcquireHTTPResponder(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("serving challenges: %w", err)
	}
	if s.Solvers.Shared != nil {
		r.Share(SharedChallenges(s.Solvers.Shared), s.Logger)
	}
	s.log().Info("serving http-01 challenges", "addr", r.Addr(), "fleet", s.Solvers.Shared != nil)
	return release, nil
}
