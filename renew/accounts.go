package renew

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/store"
)

// AccountStore is where [Accounts] keeps ACME accounts. If it also has the
// per-certificate locks of a [store.Store] (an [AccountLocker]), accounts are
// registered under a lock, so that the nodes of a fleet sharing the store
// register one account per directory and email between them.
type AccountStore interface {
	GetAccount(ctx context.Context, directory, email string) (*store.Account, error)
	PutAccount(ctx context.Context, a *store.Account) error
}

// AccountLocker is the optional lock of an [AccountStore]: [store.Store]'s
// Lock, which excludes other goroutines, processes and (on etcd) nodes.
type AccountLocker interface {
	Lock(ctx context.Context, name string) (unlock func(), err error)
}

var _ AccountLocker = (store.Store)(nil)

// accountLockName is the name of the lock [Accounts] takes to register the
// account of directory and email: "~account-" and 40 hex digits of a hash
// of both, a valid lock name that no certificate is expected to have.
func accountLockName(directory, email string) string {
	sum := sha256.Sum256([]byte(directory + "\x00" + email))
	return "~account-" + hex.EncodeToString(sum[:20])
}

// Accounts is the registry of ACME accounts and their clients: it loads an
// account from the store, or registers one when allowed, and keeps one
// [acme.Client] per (directory, email) for the life of the process. Set the
// fields before first use; an Accounts is safe for concurrent use.
type Accounts struct {
	// Store keeps the accounts. Required.
	Store AccountStore
	// HTTPClient talks to CAs. Nil means acme.NewHTTPClient(nil).
	HTTPClient *http.Client
	// Logger receives progress logs. Nil discards them.
	Logger *slog.Logger
	// Resolvers are the DNS resolvers the clients ask themselves to explain
	// failed validations (acme.Config.Resolvers). Nil makes no lookups.
	Resolvers []string
	// Now is the clock, for the creation time of new accounts. Nil means
	// time.Now.
	Now func() time.Time
	// AgreeTOS lets Issuer register an account, agreeing to the CA's terms,
	// when none exists for a directory and email. False makes a missing
	// account an error wrapping [ErrNoAccount].
	AgreeTOS bool
	// EABKeyID and EABHMAC are the external account binding used when
	// registering at a CA that requires one.
	EABKeyID, EABHMAC string

	clients sync.Map // directory\x00email -> *acme.Client
	mu      sync.Mutex
}

// Issuer returns the client for (directory, email), loading the account or
// registering it (see AgreeTOS).
func (a *Accounts) Issuer(ctx context.Context, directory, email string) (Issuer, error) {
	return a.client(ctx, directory, email)
}

func (a *Accounts) client(ctx context.Context, directory, email string) (*acme.Client, error) {
	key := directory + "\x00" + email
	if c, ok := a.clients.Load(key); ok {
		return c.(*acme.Client), nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.clients.Load(key); ok {
		return c.(*acme.Client), nil
	}
	cfg := acme.Config{Directory: directory, HTTPClient: a.HTTPClient, Logger: a.Logger, Resolvers: a.Resolvers}
	var acct *acme.Account
	sa, err := a.Store.GetAccount(ctx, directory, email)
	switch {
	case err == nil:
		if acct, err = loadAccount(email, sa); err != nil {
			return nil, err
		}
	case errors.Is(err, store.ErrNotFound):
		if acct, err = a.registerOnce(ctx, cfg, email); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	cl, err := acme.NewClient(cfg, acct)
	if err != nil {
		return nil, err
	}
	a.clients.Store(key, cl)
	return cl, nil
}

// registerOnce registers the account of cfg's directory and email unless
// another process did: under the store's lock for the account, if it has
// one, it reads the account again and registers only if it is still
// missing.
func (a *Accounts) registerOnce(ctx context.Context, cfg acme.Config, email string) (*acme.Account, error) {
	l, ok := a.Store.(AccountLocker)
	if !ok {
		return a.register(ctx, cfg, email)
	}
	unlock, err := l.Lock(ctx, accountLockName(cfg.Directory, email))
	if err != nil {
		return nil, fmt.Errorf("account %s: locking: %w", displayEmail(email), err)
	}
	defer unlock()
	sa, err := a.Store.GetAccount(ctx, cfg.Directory, email)
	switch {
	case err == nil:
		logOrDiscard(a.Logger).Info("account registered by another process", "directory", cfg.Directory, "email", email)
		return loadAccount(email, sa)
	case errors.Is(err, store.ErrNotFound):
		return a.register(ctx, cfg, email)
	}
	return nil, err
}

// register creates an account at cfg's CA and stores it.
func (a *Accounts) register(ctx context.Context, cfg acme.Config, email string) (*acme.Account, error) {
	if !a.AgreeTOS {
		return nil, fmt.Errorf("%s at %s: %w", displayEmail(email), cfg.Directory, ErrNoAccount)
	}
	acct, err := acme.Register(ctx, cfg, email, acme.RegisterOptions{AgreeTOS: true, EABKeyID: a.EABKeyID, EABHMAC: a.EABHMAC})
	if err != nil {
		return nil, err
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	if err := a.Store.PutAccount(ctx, &store.Account{
		Directory: cfg.Directory, Email: email, KeyPEM: acct.KeyPEM, URI: acct.URI,
		KeyType: string(acme.EC256), Created: now(), TOSAgreed: true,
	}); err != nil {
		return nil, fmt.Errorf("account %s: saving: %w", displayEmail(email), err)
	}
	logOrDiscard(a.Logger).Info("account registered", "directory", cfg.Directory, "email", email, "uri", acct.URI)
	return acct, nil
}

// Register returns the account for directory and email, registering it
// first if the store has none (which needs AgreeTOS).
func (a *Accounts) Register(ctx context.Context, directory, email string) (*store.Account, error) {
	if sa, err := a.Store.GetAccount(ctx, directory, email); !errors.Is(err, store.ErrNotFound) {
		return sa, err
	}
	if _, err := a.client(ctx, directory, email); err != nil {
		return nil, err
	}
	return a.Store.GetAccount(ctx, directory, email)
}

func displayEmail(e string) string {
	if e == "" {
		return "account without email"
	}
	return e
}

// logOrDiscard returns l, or a logger that discards everything when l is nil.
func logOrDiscard(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

// loadAccount makes a stored account usable; its key may be sealed
// ([store.ErrSealed], [store.ErrWrongKey]).
func loadAccount(email string, sa *store.Account) (*acme.Account, error) {
	key, err := sa.Key()
	if err != nil {
		return nil, err
	}
	return acme.LoadAccount(email, key, sa.URI)
}
