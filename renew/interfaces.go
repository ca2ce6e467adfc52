package renew

import (
	"context"
	"crypto/x509"
	"time"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/store"
)

// Store is what renew needs of a certificate store: records, accounts, the
// renewal index and per-certificate locks. [store.Store] implementations
// satisfy it, and their contract applies (copies, compare-and-swap Put,
// errors naming the certificate, locks across processes).
type Store interface {
	Get(ctx context.Context, name string) (*store.Certificate, error)
	Put(ctx context.Context, c *store.Certificate) error
	Delete(ctx context.Context, name string) error
	List(ctx context.Context) ([]*store.Certificate, error)
	Due(ctx context.Context, before time.Time) ([]*store.Certificate, error)
	NextDue(ctx context.Context) (time.Time, bool, error)
	Generation(ctx context.Context) (uint64, error)
	GetAccount(ctx context.Context, directory, email string) (*store.Account, error)
	PutAccount(ctx context.Context, a *store.Account) error
	Lock(ctx context.Context, name string) (unlock func(), err error)
}

var _ Store = (store.Store)(nil)

// TryLocker is an optional capability of a [Store] (both backends have it):
// TryLock takes name's lock only if no one holds it, reporting ok. The
// [Manager] uses it to skip a certificate that another process is renewing
// instead of waiting for it; without it the Manager waits.
type TryLocker interface {
	TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error)
}

var _ TryLocker = (store.Store)(nil)

// Issuer talks to one CA for one account. [*acme.Client] is the real one;
// tests use a fake. Its methods are safe for concurrent use and honour ctx.
type Issuer interface {
	// Obtain orders, validates and downloads a certificate for req (not yet
	// validated by the caller's rules).
	Obtain(ctx context.Context, req acme.Request) (*acme.Certificate, error)
	// RenewalInfo returns the CA's renewal window for leaf, or an error
	// wrapping [acme.ErrNoARI] when the CA has none.
	RenewalInfo(ctx context.Context, leaf *x509.Certificate) (*acme.RenewalInfo, error)
	// Revoke revokes the certificate whose leaf is certPEM.
	Revoke(ctx context.Context, certPEM []byte, reason int) error
}

var _ Issuer = (*acme.Client)(nil)

// Issuers gives the [Issuer] for a CA directory and account email. [*Accounts]
// is the real one. It is safe for concurrent use.
type Issuers interface {
	Issuer(ctx context.Context, directory, email string) (Issuer, error)
}

var _ Issuers = (*Accounts)(nil)
