package certctl

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certctl/certctl/bindings"
)

// Config configures a [Manager] (and [HTTPS]). Every field is optional; each
// documents its zero value. A nil *Config is the zero Config.
type Config struct {
	// Store is where certificates and accounts are kept: a file path (the
	// bbolt store) or any store URL, such as
	// "etcd://10.0.0.1:2379,10.0.0.2:2379/certctl" for a fleet sharing one
	// store (see store.OpenURL). "" means store.DefaultPath(). The Manager
	// serves every certificate of the store, and renews them all (one
	// stored by the CLI with a dns-01 provider named needs the program to
	// import github.com/certctl/certctl/acme/dnsproviders).
	Store string
	// StoreKey is the key that seals private keys at rest
	// (store.Options.SealKey, 32 bytes). nil reads it the way certctl
	// does: the file named by CERTCTL_STORE_KEY_FILE, else the systemd
	// credential certctl-store-key when present, else none.
	StoreKey []byte

	// Directory is the ACME CA's directory URL or one of the shortcuts of
	// acme.ResolveDirectory ("letsencrypt-staging", ...). "" means Let's
	// Encrypt's production directory.
	Directory string
	// Email is the ACME account's contact address. "" registers an account
	// without one.
	Email string
	// AgreeTOS agrees to the CA's terms of service, which registering an
	// account requires. False makes obtaining a first certificate fail
	// (wrapping renew.ErrNoAccount) unless the store already holds an
	// account for Directory and Email.
	AgreeTOS bool
	// KeyType is the certificates' key type: "ec256", "ec384", "rsa2048",
	// "rsa3072", "rsa4096" or "rsa8192". "" means "ec256".
	KeyType string
	// Profile is the ACME profile asked of the CA (for example "shortlived"
	// at Let's Encrypt). "" means the CA's default.
	Profile string
	// Challenge is how new certificates prove control of their names:
	// "tls-alpn-01" (the default, for ""), answered inside the handshakes of
	// [Manager.TLSConfig] on port 443, so a server needs no port 80; or
	// "http-01", answered by [Manager.HTTPHandler] on port 80. [HTTPS]
	// serves both.
	Challenge string

	// TLSPolicy chooses the TLS versions, cipher suites and client
	// authentication of [Manager.TLSConfig]. The zero value is
	// bindings.Intermediate (TLS 1.2 and 1.3, AEAD suites only).
	TLSPolicy bindings.Policy

	// Logger receives what the Manager does. Nil discards.
	Logger *slog.Logger
	// OnEvent, if set, is called for every [Event]: certificates obtained,
	// renewed, failing, expiring. It is called synchronously from the
	// goroutine that did the work; it must not block for long.
	OnEvent func(Event)
	// OnDemand, if set, obtains certificates during the first handshake for
	// a name not held yet, for the names its Allow accepts. Nil serves only
	// the names managed ([Manager.Manage]) or stored.
	OnDemand *OnDemand
	// Metrics, if set, receives the Prometheus collectors: the store's view
	// (renew.Metrics: validity, next renewal, status, renewals and ACME
	// requests) and what is served ([Manager] documents the
	// certctl_served_* and certctl_on_demand_* series). Nil registers none.
	Metrics prometheus.Registerer

	// HTTPClient talks to the CA. Nil means acme.NewHTTPClient(nil) (the
	// system's roots).
	HTTPClient *http.Client
	// Schedule is how often the renewal manager scans the store (a cron
	// spec or "@every 10m"); it also wakes at each earliest due time. ""
	// means renew.DefaultSchedule.
	Schedule string
	// Poll is how often the served certificates are compared with the store,
	// to pick up renewals by another process (an etcd store pushes them
	// instead, and is polled only as a safety net). Zero means one second.
	Poll time.Duration

	// HTTPAddr and HTTPSAddr are where [HTTPS] listens: HTTP (HTTP-01
	// challenges and redirects) and HTTPS. "" means ":80" and ":443".
	HTTPAddr, HTTPSAddr string
}

// OnDemand is the policy of on-demand issuance: a handshake for a name
// that is not held obtains a certificate while it waits, serves it, and the
// name is kept renewed like every other. Only Allow is required; every other
// zero field means the documented default.
//
// Safety: names that are IP addresses or not valid DNS names are refused
// before Allow is asked; concurrent handshakes for one name wait for one
// order; a denied name fails its handshake without any request to the CA and
// its denial is remembered for DenyTTL; new orders are limited to Orders per
// Per for the whole Manager; a name whose order failed is not ordered again
// for Backoff, doubling with each failure up to MaxBackoff. In a fleet
// sharing a store, a name obtained by another node is loaded from the store,
// and the store's per-certificate lock lets one node order it.
type OnDemand struct {
	// Allow decides whether a name may get a certificate: nil allows, an
	// error denies (and is logged). It must be quick and must not contact
	// the CA; ctx is done when the handshake gives up. Required: an
	// OnDemand without Allow allows nothing.
	Allow func(ctx context.Context, name string) error
	// Timeout bounds how long a handshake waits for its certificate, and
	// the order it waits for. Zero means 30 seconds.
	Timeout time.Duration
	// Orders and Per bound new orders: at most Orders at once, refilled at
	// Orders per Per. Zero Orders means 10; zero Per means one minute.
	Orders int
	Per    time.Duration
	// DenyTTL is how long a denial by Allow is remembered (no further
	// question asked). Zero means 5 minutes.
	DenyTTL time.Duration
	// Backoff is how long a name whose order failed waits before the next
	// order, doubled after each further failure up to MaxBackoff. Zero
	// means one minute and one hour.
	Backoff, MaxBackoff time.Duration
}
