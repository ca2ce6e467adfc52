package certctl

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/bindings"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// Manager obtains, renews and serves the certificates of one store for a Go
// server: [Manager.Manage] obtains certificates (or keeps the stored ones),
// a renewal manager (renew.Manager) renews every certificate of the store in
// the background, and each new certificate is swapped into the running
// server in-process; renewals made by other processes sharing the store are
// picked up too. [Manager.TLSConfig] serves them and answers TLS-ALPN-01
// validations inside its handshakes; [Manager.HTTPHandler] answers HTTP-01.
// With Config.OnDemand, a handshake for a name not held obtains its
// certificate while it waits.
//
// Create one with [New] and stop it with [Manager.Close], which stops every
// goroutine it started. Its methods are safe for concurrent use.
//
// With Config.Metrics set it registers, besides renew.Metrics, what is
// actually served:
//
//	certctl_served_certificate_not_after_timestamp_seconds{name}  expiry of the certificate served
//	certctl_served_certificate_info{name,serial}                 1 for the serial served
//	certctl_served_handshakes_total{name}                         handshakes given that certificate
//	certctl_served_unknown_name_total                             handshakes for no certificate held
//	certctl_served_refused_total{name}                            certificates refused at the swap
//	certctl_on_demand_total{outcome}                              on-demand handshakes by outcome
//
// so that an alert can compare what the store renewed with what is served.
type Manager struct {
	cfg       Config
	log       *slog.Logger
	directory string
	challenge string
	keyType   string

	db      store.Backend
	binder  *bindings.Binder
	svc     *renew.Service
	rmetric *renew.Metrics // nil without Config.Metrics
	served  *served
	httpR   *acme.HTTPResponder
	alpnR   *acme.TLSALPNResponder
	tlsConf *tls.Config
	od      *onDemand // nil without Config.OnDemand
	renewer *renew.Manager

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed and wg.Add
	closed bool
	wg     sync.WaitGroup
	once   sync.Once
	err    error // Close's

	// renewHook, if set, sees every event of the renewal manager (tests).
	renewHook func(renew.Event)
}

// New opens cfg's store (nil cfg: the zero Config), loads the certificates
// it holds into the served set, and starts following the store and renewing
// its certificates in the background. It contacts no CA.
func New(cfg *Config) (*Manager, error) { return newManager(cfg, nil) }

// newManager is New with a hook that sees every event of the renewal
// manager (tests).
func newManager(cfg *Config, renewHook func(renew.Event)) (*Manager, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	m := &Manager{cfg: c, log: c.Logger, challenge: c.Challenge, keyType: c.KeyType, renewHook: renewHook}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if m.directory, err = acme.ResolveDirectory(c.Directory); err != nil {
		return nil, fmt.Errorf("certctl: %w", err)
	}
	switch m.challenge {
	case "":
		m.challenge = acme.TLSALPN01
	case acme.TLSALPN01, acme.HTTP01:
	default:
		return nil, fmt.Errorf("certctl: challenge %q: %w (want tls-alpn-01 or http-01)", c.Challenge, acme.ErrBadChallenge)
	}
	if m.keyType == "" {
		m.keyType = "ec256"
	}
	if _, err := acme.ParseKeyType(m.keyType); err != nil {
		return nil, fmt.Errorf("certctl: %w", err)
	}
	if c.Schedule != "" {
		if _, err := renew.ParseSchedule(c.Schedule); err != nil {
			return nil, fmt.Errorf("certctl: %w", err)
		}
	}
	hc := c.HTTPClient
	if hc == nil {
		if hc, err = acme.NewHTTPClient(nil); err != nil {
			return nil, fmt.Errorf("certctl: %w", err)
		}
	}
	path := c.Store
	if path == "" {
		path = store.DefaultPath()
	}
	key := c.StoreKey
	if key == nil {
		if key, err = store.SealKeyFromEnv(os.Getenv); err != nil {
			return nil, fmt.Errorf("certctl: %w", err)
		}
	}
	openCtx, cancelOpen := context.WithTimeout(context.Background(), 30*time.Second)
	m.db, err = store.OpenURL(openCtx, path, &store.Options{SealKey: key})
	cancelOpen()
	if err != nil {
		return nil, fmt.Errorf("certctl: opening the store: %w", err)
	}

	m.httpR, m.alpnR = acme.NewHTTPResponder(), acme.NewTLSALPNResponder()
	m.httpR.Share(renew.SharedChallenges(m.db), m.log)
	m.alpnR.Share(renew.SharedChallenges(m.db), m.log)
	m.svc = &renew.Service{
		Store:     m.db,
		Logger:    m.log,
		Solvers:   renew.Solvers{HTTPResponder: m.httpR, TLSResponder: m.alpnR, Shared: m.db},
		OnRenewed: m.swap,
	}
	if c.Metrics != nil {
		m.rmetric = renew.NewMetrics(m.svc)
		wrapped := *hc
		wrapped.Transport = m.rmetric.Transport(hc.Transport)
		hc = &wrapped
	}
	m.svc.Issuers = &renew.Accounts{Store: m.db, HTTPClient: hc, Logger: m.log, AgreeTOS: c.AgreeTOS}
	m.served = &served{m: m, enabled: c.Metrics != nil}
	m.binder = bindings.New(&bindings.Options{Logger: m.log, OnError: m.served.refused})
	if c.OnDemand != nil {
		m.od = newOnDemand(m, *c.OnDemand)
	}
	if c.Metrics != nil {
		if err := c.Metrics.Register(m.rmetric); err != nil {
			_ = m.db.Close()
			return nil, fmt.Errorf("certctl: registering metrics: %w", err)
		}
		if err := c.Metrics.Register(m.served); err != nil {
			c.Metrics.Unregister(m.rmetric)
			_ = m.db.Close()
			return nil, fmt.Errorf("certctl: registering metrics: %w", err)
		}
	}
	m.tlsConf = m.buildTLSConfig()

	m.ctx, m.cancel = context.WithCancel(context.Background())
	src := BinderSource(m.db)
	if err := m.binder.Sync(m.ctx, src); err != nil {
		m.log.Warn("loading stored certificates", "err", err) // the good ones serve
	}
	m.renewer = &renew.Manager{Service: m.svc, Schedule: c.Schedule, Logger: m.log, Notify: m.renewed}
	m.wg.Add(2)
	go func() { defer m.wg.Done(); _ = m.binder.Watch(m.ctx, src, c.Poll) }()
	go func() { defer m.wg.Done(); _ = m.renewer.Run(m.ctx) }()
	return m, nil
}

// Manage makes each of domains a managed certificate of its own (named by
// the domain) and returns once each is served: a certificate already stored
// and not due is kept without contacting the CA; otherwise one is obtained
// now. From then on it is renewed in the background. Wildcards need dns-01,
// which the Manager does not do; they are refused, as are IP addresses. ctx bounds the orders;
// the returned error joins the failures, each naming its domain, and the
// other domains are served regardless.
func (m *Manager) Manage(ctx context.Context, domains ...string) error {
	names, err := acme.NormalizeDomains(domains)
	if err != nil {
		return fmt.Errorf("certctl: %w", err)
	}
	if acme.HasWildcard(names) {
		return fmt.Errorf("certctl: %w: wildcard names need the dns-01 challenge", acme.ErrBadDomain)
	}
	if acme.HasIP(names) {
		// A client connecting by address sends no server name to pick the
		// certificate by; `certctl issue -d ADDRESS` obtains one.
		return fmt.Errorf("certctl: %w: Manage takes DNS names, not IP addresses", acme.ErrBadDomain)
	}
	if !m.track() {
		return ErrClosed
	}
	defer m.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(m.ctx, cancel)
	defer stop()
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { errs[i] = m.obtain(ctx, name) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// template is the record of a certificate the Manager obtains for name.
func (m *Manager) template(name string) *store.Certificate {
	return &store.Certificate{
		Name:      name,
		Domains:   []string{name},
		KeyType:   m.keyType,
		Directory: m.directory,
		Email:     m.cfg.Email,
		Profile:   m.cfg.Profile,
		Challenge: store.Challenge{Type: m.challenge},
	}
}

// obtain issues name's certificate or keeps the stored one, and makes sure
// it is served.
func (m *Manager) obtain(ctx context.Context, name string) error {
	r := m.svc.Issue(ctx, m.template(name), false)
	switch r.Action {
	case renew.ActionFailed:
		m.emit(Event{Type: EventFailed, Name: name, Err: r.Err})
		return r.Err
	case renew.ActionIssued:
		m.emit(Event{Type: EventObtained, Name: name, Serial: r.Serial, NotAfter: r.NotAfter})
	case renew.ActionRenewed:
		m.emit(Event{Type: EventRenewed, Name: name, Serial: r.Serial, NotAfter: r.NotAfter})
	}
	if r.Action != renew.ActionKept {
		// The renewal manager learns of the new certificate now, and asks
		// the CA for its renewal window (ARI) at once.
		m.renewer.ScanNow()
	}
	if m.binder.Serial(name) == r.Serial {
		return nil
	}
	if err := m.loadStored(ctx, name); err != nil {
		return fmt.Errorf("%s: serving the stored certificate: %w", name, err)
	}
	return nil
}

// loadStored serves name's active version from the store. It fails when
// there is none, or when the binder refuses it (expired, ...).
func (m *Manager) loadStored(ctx context.Context, name string) error {
	got, err := m.db.LoadActive(ctx, []string{name})
	if err != nil {
		return err
	}
	if len(got) == 0 {
		return store.ErrNotFound
	}
	a := got[0]
	return m.binder.Set(a.Name, a.FullchainPEM, a.KeyPEM, a.Domains)
}

// swap is the renewal service's OnRenewed: the new version is served at
// once.
func (m *Manager) swap(_ context.Context, c *store.Certificate) {
	v := c.ActiveVersion()
	if v == nil {
		return
	}
	if err := m.binder.Set(c.Name, v.Fullchain(), v.KeyPEM, c.Domains); err != nil {
		m.log.Error("swapping in the new certificate", "name", c.Name, "err", err)
	}
}

// renewed turns the renewal manager's events into the caller's.
func (m *Manager) renewed(e renew.Event) {
	if m.renewHook != nil {
		m.renewHook(e)
	}
	if m.rmetric != nil {
		m.rmetric.Observe(e)
	}
	switch e.Type {
	case renew.EventRenewed:
		t := EventRenewed
		if e.Result.Action == renew.ActionIssued {
			t = EventObtained
		}
		m.emit(Event{Type: t, Name: e.Name, Serial: e.Result.Serial, NotAfter: e.Result.NotAfter, Time: e.Time})
	case renew.EventFailed:
		m.emit(Event{Type: EventFailed, Name: e.Name, Err: e.Result.Err, Time: e.Time})
		for _, b := range m.binder.Bindings() {
			if b.Name != e.Name {
				continue
			}
			leaf := b.Certificate.Leaf
			if life := leaf.NotAfter.Sub(leaf.NotBefore); time.Until(leaf.NotAfter) < life/10 {
				m.emit(Event{Type: EventExpiring, Name: e.Name, Serial: b.Serial, NotAfter: b.NotAfter, Err: e.Result.Err, Time: e.Time})
			}
		}
	}
}

// emit gives e to the caller, filling in what the served set knows.
func (m *Manager) emit(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if e.Type == EventFailed {
		m.log.Error("certificate failed", "name", e.Name, "err", e.Err)
	}
	if m.cfg.OnEvent != nil {
		m.cfg.OnEvent(e)
	}
}

// track counts a goroutine or call that Close must wait for; false after
// Close.
func (m *Manager) track() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.wg.Add(1)
	return true
}

// Close stops renewing and following the store, cancels the orders in
// flight and waits for every goroutine the Manager started, unregisters its
// metrics and closes the store. Servers using TLSConfig keep serving the
// certificates held. Calling Close again returns the first call's result.
func (m *Manager) Close() error {
	m.once.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		m.cancel()
		m.wg.Wait()
		if m.cfg.Metrics != nil {
			m.cfg.Metrics.Unregister(m.rmetric)
			m.cfg.Metrics.Unregister(m.served)
		}
		m.err = m.db.Close()
	})
	return m.err
}

// TLSConfig returns a new server configuration for any http.Server,
// tls.Listen or gRPC server: certificates from the Manager (swapped as they
// are renewed, obtained on demand when Config.OnDemand allows), versions,
// suites and client authentication from Config.TLSPolicy, and TLS-ALPN-01
// validations (the CA's handshakes offering only acme-tls/1) answered with
// the challenge certificates of this Manager's orders, or of any node
// sharing its store. A server on port 443 therefore needs no port 80. The
// caller may set further fields (NextProtos, ...) before serving.
func (m *Manager) TLSConfig() *tls.Config {
	return m.tlsConf.Clone()
}

func (m *Manager) buildTLSConfig() *tls.Config {
	cfg := m.binder.TLSConfig(m.cfg.TLSPolicy)
	cfg.GetCertificate = m.getCertificate
	return withALPN(cfg, m.alpnR)
}

// getCertificate serves a held certificate, or obtains one on demand.
func (m *Manager) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	c, err := m.binder.GetCertificate(hello)
	if err == nil {
		m.served.hit(c)
		return c, nil
	}
	if m.od != nil && hello != nil && hello.ServerName != "" {
		if c, err = m.od.get(hello); err == nil {
			m.served.hit(c)
			return c, nil
		}
	}
	m.served.misses.Add(1)
	return nil, err
}

// HTTPHandler returns a handler for port 80 that answers HTTP-01
// validations (the tokens of this Manager's orders and those any node sharing
// its store published) and passes every other request to fallback, for
// example a redirect to HTTPS. A nil fallback answers 404.
func (m *Manager) HTTPHandler(fallback http.Handler) http.Handler {
	return challengeHandler(m.httpR, fallback)
}

// Names returns the names of the certificates served, sorted.
func (m *Manager) Names() []string { return m.binder.Names() }

var _ prometheus.Collector = (*served)(nil)
