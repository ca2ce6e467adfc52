package bindings

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a [Binder]. A nil *Options and every zero field mean the
// documented default.
type Options struct {
	// Logger receives installs, removals and refusals. Nil discards.
	Logger *slog.Logger

	// Now is the clock used to check validity periods. Nil means time.Now.
	Now func() time.Time

	// OnError, if set, is called for every certificate refused by Set,
	// SetCertificate or a Source pass, with the binding name, and for a failed
	// Source read with name "". It runs synchronously on the caller's goroutine
	// after the snapshot lock is released; it must not call Sync or block
	// for long.
	OnError func(name string, err error)

	// Roots, if set, makes full chain verification mandatory: the leaf must
	// verify through the intermediates given with it to one of these roots.
	// Nil means the chain is checked against itself: up to its last
	// certificate when that one is self-signed, otherwise link by link (each
	// certificate signed by the next).
	Roots *x509.CertPool
}

// Binder serves certificates by server name and replaces them without
// interrupting a server. Create one with [New]; the zero value is not usable.
// All methods are safe for concurrent use. GetCertificate never blocks on a
// writer: writers build a new snapshot under a mutex and publish it atomically.
type Binder struct {
	cur atomic.Pointer[snapshot]

	mu sync.Mutex  // serializes writers
	w  writerState // guarded by mu

	log     *slog.Logger
	now     func() time.Time
	onError func(string, error)
	roots   *x509.CertPool

	sync sourceState // what Sync last read from its Source
}

// New returns an empty Binder configured by opts (nil means defaults).
func New(opts *Options) *Binder {
	var o Options
	if opts != nil {
		o = *opts
	}
	b := &Binder{log: o.Logger, now: o.Now, onError: o.OnError, roots: o.Roots}
	b.w.byName = make(map[string]*entry)
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.now == nil {
		b.now = time.Now
	}
	b.cur.Store(&snapshot{})
	return b
}

// Set validates the PEM certificate chain and private key and installs them
// under name, replacing the binding of that name if there is one.
//
// fullchainPEM is the leaf followed by its chain (blocks other than
// CERTIFICATE are skipped); keyPEM holds the private key (PKCS #8, SEC 1 or
// PKCS #1). names are the server names the certificate must serve, each of
// which it must cover; nil means the leaf's DNS names. A name that another
// binding also serves goes to the most recently installed one.
//
// On any validation failure nothing changes, the refusal is logged and passed
// to Options.OnError, and the returned error wraps one of ErrNoCertificate,
// ErrBadCertificate, ErrNoKey, ErrKeyMismatch, ErrNotYetValid, ErrExpired,
// ErrNameMismatch, ErrBadChain or ErrInvalidName.
func (b *Binder) Set(name string, fullchainPEM, keyPEM []byte, names []string) error {
	e, err := b.parsePEM(name, fullchainPEM, keyPEM, names)
	if err != nil {
		b.refused(name, err)
		return err
	}
	b.install(e)
	return nil
}

// SetCertificate is Set for an already parsed certificate. cert.Certificate
// holds the DER chain, leaf first; cert.Leaf is used when it matches the first
// DER certificate, otherwise the leaf is parsed. The binder keeps a shallow copy
// of cert: the caller must not modify the slices or key it refers to afterwards.
func (b *Binder) SetCertificate(name string, cert *tls.Certificate, names []string) error {
	e, err := b.parseCertificate(name, cert, names)
	if err != nil {
		b.refused(name, err)
		return err
	}
	b.install(e)
	return nil
}

// Remove drops the binding called name. Connections already using its
// certificate are unaffected. Removing an unknown name does nothing.
func (b *Binder) Remove(name string) {
	if b.update(func(t *txn) { t.remove(name) }) {
		b.log.Info("certificate removed", "name", name)
	}
}

// SetDefault chooses the binding served to clients that send no server name.
// By default, and when the chosen binding does not exist, it is the oldest
// binding still present (the first added). An empty name restores that rule.
func (b *Binder) SetDefault(name string) {
	b.update(func(t *txn) { t.setDefault(name) })
}

// GetCertificate returns the certificate for hello.ServerName, for use as
// tls.Config.GetCertificate. The lookup is lock-free and allocation-free on a
// hit: exact names first, then a wildcard covering the leftmost label,
// ignoring ASCII case and one trailing dot. A nil hello or an empty server name
// gets the default certificate. An unknown name gets an error matching
// [ErrUnknownName], never a panic.
func (b *Binder) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	var serverName string
	if hello != nil {
		serverName = hello.ServerName
	}
	if c := b.cur.Load().lookup(serverName); c != nil {
		return c, nil
	}
	if serverName == "" {
		return nil, errNoDefault
	}
	return nil, &missError{name: serverName}
}

// Serial returns the serial number of the certificate a handshake for
// serverName would get now ("" = the default certificate), or "" when none
// would be served. It is the lower-case hex of the serial's big-endian bytes
// (an even number of digits), as certctl stores and prints serials.
func (b *Binder) Serial(serverName string) string {
	c := b.cur.Load().lookup(serverName)
	if c == nil {
		return ""
	}
	return serialHex(c.Leaf)
}

// serialHex formats a certificate's serial like the rest of certctl.
func serialHex(c *x509.Certificate) string { return hex.EncodeToString(c.SerialNumber.Bytes()) }

// Names returns the sorted names of the installed bindings.
func (b *Binder) Names() []string {
	b.mu.Lock()
	names := slices.Collect(maps.Keys(b.w.byName))
	b.mu.Unlock()
	slices.Sort(names)
	return names
}

// install publishes a validated entry.
func (b *Binder) install(e *entry) {
	b.update(func(t *txn) { t.put(e) })
	b.log.Info("certificate installed", "name", e.name, "serial", serialHex(e.cert.Leaf),
		"not_after", e.cert.Leaf.NotAfter, "names", len(e.names))
}

// update runs fn on a transaction over the current snapshot and publishes the
// result if fn changed anything. It reports whether it did.
func (b *Binder) update(fn func(*txn)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := newTxn(&b.w, b.cur.Load())
	fn(t)
	s := t.finish()
	if s == nil {
		return false
	}
	b.cur.Store(s)
	return true
}

// refused logs and reports a refused certificate or a failed source read.
func (b *Binder) refused(name string, err error) {
	b.log.LogAttrs(context.Background(), slog.LevelError, "certificate refused",
		slog.String("name", name), slog.Any("error", err))
	if b.onError != nil {
		b.onError(name, err)
	}
}
