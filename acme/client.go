package acme

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	legoacme "github.com/go-acme/lego/v4/acme"
	"github.com/go-acme/lego/v4/acme/api"
	"github.com/go-acme/lego/v4/certcrypto"
	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/challenge"
	"github.com/go-acme/lego/v4/challenge/dns01"
	"github.com/go-acme/lego/v4/challenge/http01"
	"github.com/go-acme/lego/v4/lego"
	"github.com/go-acme/lego/v4/providers/dns"
	"github.com/go-acme/lego/v4/providers/http/webroot"
	"github.com/go-acme/lego/v4/registration"
)

// Challenge types.
const (
	HTTP01    = "http-01"
	DNS01     = "dns-01"
	TLSALPN01 = "tls-alpn-01"
)

// Config says which CA to talk to and how.
type Config struct {
	// Directory is the CA's directory URL (see [ResolveDirectory]).
	Directory string
	// HTTPClient talks to the CA. Nil means [NewHTTPClient](nil).
	HTTPClient *http.Client
	// UserAgent is added to lego's. Empty means "certctl".
	UserAgent string
	// Logger receives debug logs. Nil discards them.
	Logger *slog.Logger
	// CertTimeout bounds waiting for the CA to issue after finalizing.
	// Zero means 60 seconds.
	CertTimeout time.Duration
}

func (c *Config) httpClient() (*http.Client, error) {
	hc := c.HTTPClient
	if hc == nil {
		var err error
		if hc, err = NewHTTPClient(nil); err != nil {
			return nil, err
		}
	}
	return withPollHint(hc), nil
}

// Account is an ACME account: its key and the URL the CA gave it.
type Account struct {
	Email  string
	Key    crypto.Signer
	KeyPEM []byte
	URI    string
}

type legoUser struct{ a *Account }

func (u legoUser) GetEmail() string                 { return u.a.Email }
func (u legoUser) GetPrivateKey() crypto.PrivateKey { return u.a.Key }
func (u legoUser) GetRegistration() *registration.Resource {
	if u.a.URI == "" {
		return nil
	}
	return &registration.Resource{URI: u.a.URI}
}

// LoadAccount rebuilds an account from its stored key and URL.
func LoadAccount(email string, keyPEM []byte, uri string) (*Account, error) {
	k, err := ParsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", email, err)
	}
	return &Account{Email: email, Key: k, KeyPEM: keyPEM, URI: uri}, nil
}

// RegisterOptions are the choices made when creating an account.
type RegisterOptions struct {
	// AgreeTOS must be true: it records the user's agreement to the CA's terms.
	AgreeTOS bool
	// EABKeyID and EABHMAC are the external account binding some CAs
	// (ZeroSSL, Google) require; HMAC is base64url as the CA gives it.
	EABKeyID, EABHMAC string
}

// Register creates an account at the CA with a new EC P-256 key.
func Register(ctx context.Context, cfg Config, email string, opts RegisterOptions) (*Account, error) {
	if !opts.AgreeTOS {
		return nil, ErrTOSNotAgreed
	}
	key, err := certcrypto.GeneratePrivateKey(certcrypto.EC256)
	if err != nil {
		return nil, fmt.Errorf("account %s: generating key: %w", email, err)
	}
	acct := &Account{Email: email, Key: key.(crypto.Signer), KeyPEM: certcrypto.PEMEncode(key)}
	lc, err := newLego(ctx, cfg, acct, EC256)
	if err != nil {
		return nil, err
	}
	var res *registration.Resource
	if opts.EABKeyID != "" || opts.EABHMAC != "" {
		if opts.EABKeyID == "" || opts.EABHMAC == "" {
			return nil, fmt.Errorf("account %s: %w: both key ID and HMAC are needed", email, ErrEABRequired)
		}
		res, err = lc.Registration.RegisterWithExternalAccountBinding(registration.RegisterEABOptions{
			TermsOfServiceAgreed: true, Kid: opts.EABKeyID, HmacEncoded: opts.EABHMAC,
		})
	} else {
		if lc.GetExternalAccountRequired() {
			return nil, fmt.Errorf("account %s: %w", email, ErrEABRequired)
		}
		res, err = lc.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true})
	}
	if err != nil {
		return nil, fmt.Errorf("account %s: registering: %w", email, classify(cfg.Directory, err))
	}
	acct.URI = res.URI
	return acct, nil
}

// Client obtains, revokes and checks certificates at one CA for one account.
// It is safe for concurrent use.
type Client struct {
	cfg  Config
	acct *Account

	mu   sync.Mutex
	info *lego.Client // for revocations and renewal info; orders each get their own
}

// shared returns the lego client used for requests that need no challenge
// solver, created once (fetching the directory) and reused, so that the
// renewal-info checks of every scan cost one request each, not two.
func (c *Client) shared(ctx context.Context) (*lego.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.info != nil {
		return c.info, nil
	}
	lc, err := newLego(ctx, c.cfg, c.acct, EC256)
	if err != nil {
		return nil, err
	}
	c.info = lc
	return lc, nil
}

// NewClient returns a client for acct at cfg.Directory. It does not contact
// the CA.
func NewClient(cfg Config, acct *Account) (*Client, error) {
	if acct == nil || acct.Key == nil {
		return nil, errors.New("acme client: no account key")
	}
	return &Client{cfg: cfg, acct: acct}, nil
}

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
			return fmt.Errorf("%w: dns-01 needs a DNS provider (--dns)", ErrBadChallenge)
		}
		if ch.DNS == nil {
			if _, err := dns.NewDNSChallengeProviderByName(ch.DNSProvider); err != nil {
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

// Request describes one certificate order.
type Request struct {
	Domains        []string
	KeyType        KeyType
	Challenge      Challenge
	Profile        string    // ACME profile; empty lets the CA choose
	PreferredChain string    // common name of the preferred root
	NotAfter       time.Time // asks the CA for an earlier expiry (if it supports it)
	// Replaces is the certificate being renewed; its ARI ID goes in the
	// order's "replaces" field when the CA supports ARI.
	Replaces *x509.Certificate
}

// Obtain orders, validates and downloads a certificate. The result has not
// yet been validated: call [Certificate.Validate].
func (c *Client) Obtain(ctx context.Context, req Request) (*Certificate, error) {
	subject := strings.Join(req.Domains, ",")
	lc, err := newLego(ctx, c.cfg, c.acct, req.KeyType)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", subject, err)
	}
	release, err := setSolver(ctx, lc, req.Challenge)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", subject, err)
	}
	defer release()
	or := certificate.ObtainRequest{
		Domains:        req.Domains,
		Bundle:         true,
		Profile:        req.Profile,
		PreferredChain: req.PreferredChain,
		NotAfter:       req.NotAfter,
	}
	var replaces string
	if req.Replaces != nil {
		if replaces, err = CertID(req.Replaces); err == nil {
			or.ReplacesCertID = replaces
		}
	}
	res, err := runCtx(ctx, func() (*certificate.Resource, error) { return lc.Certificate.Obtain(or) })
	if err != nil && replaces != "" && refusedReplaces(err) {
		// "replaces" is advisory (RFC 9773): a CA that refuses it for a
		// reason other than rate limits still issues without it.
		c.log().Warn("CA refused the order with replaces; ordering without it", "domains", subject, "err", err)
		or.ReplacesCertID, replaces = "", ""
		res, err = runCtx(ctx, func() (*certificate.Resource, error) { return lc.Certificate.Obtain(or) })
	}
	if err != nil {
		return nil, fmt.Errorf("%s: obtaining: %w", subject, classify(c.cfg.Directory, err))
	}
	cert, err := ParseCertificate(res.Certificate, res.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", subject, err)
	}
	cert.CertURL = res.CertURL
	cert.Replaces = replaces
	return cert, nil
}

// refusedReplaces reports an order refused by the CA before any
// validation for a reason that may be its "replaces" field.
func refusedReplaces(err error) bool {
	var pd *legoacme.ProblemDetails
	if !errors.As(err, &pd) || pd.Method != http.MethodPost {
		return false
	}
	switch strings.TrimPrefix(pd.Type, "urn:ietf:params:acme:error:") {
	case "rateLimited", "unauthorized", "connection", "dns", "incorrectResponse", "caa", "tls", "rejectedIdentifier", "badNonce":
		return false
	}
	return strings.Contains(pd.URL, "order") || strings.Contains(strings.ToLower(pd.Detail), "replace") ||
		strings.Contains(strings.ToLower(pd.Detail), "order")
}

func (c *Client) log() *slog.Logger {
	if c.cfg.Logger != nil {
		return c.cfg.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Revocation reasons (RFC 5280) accepted by [Client.Revoke].
var RevocationReasons = map[string]int{
	"unspecified":          0,
	"keyCompromise":        1,
	"superseded":           4,
	"cessationOfOperation": 5,
}

// Revoke asks the CA to revoke the certificate whose leaf is certPEM.
func (c *Client) Revoke(ctx context.Context, certPEM []byte, reason int) error {
	lc, err := c.shared(ctx)
	if err != nil {
		return err
	}
	r := uint(reason)
	_, err = runCtx(ctx, func() (struct{}, error) { return struct{}{}, lc.Certificate.RevokeWithReason(certPEM, &r) })
	if err != nil {
		return fmt.Errorf("revoking: %w", classify(c.cfg.Directory, err))
	}
	return nil
}

// RenewalInfo is a CA's suggested renewal window for a certificate (ARI).
type RenewalInfo struct {
	Start, End     time.Time
	ExplanationURL string
	// RetryAfter is how long the CA asks clients to wait before asking again.
	RetryAfter time.Duration
}

// RenewalInfo fetches the CA's renewal window for leaf. It returns [ErrNoARI]
// when the CA does not support ARI.
func (c *Client) RenewalInfo(ctx context.Context, leaf *x509.Certificate) (*RenewalInfo, error) {
	lc, err := c.shared(ctx)
	if err != nil {
		return nil, err
	}
	ri, err := runCtx(ctx, func() (*certificate.RenewalInfoResponse, error) {
		return lc.Certificate.GetRenewalInfo(certificate.RenewalInfoRequest{Cert: leaf})
	})
	if errors.Is(err, api.ErrNoARI) {
		return nil, ErrNoARI
	}
	if err != nil {
		return nil, fmt.Errorf("renewal info: %w", classify(c.cfg.Directory, err))
	}
	if ri.SuggestedWindow.Start.IsZero() || ri.SuggestedWindow.End.Before(ri.SuggestedWindow.Start) {
		return nil, fmt.Errorf("renewal info: CA sent no usable window")
	}
	return &RenewalInfo{
		Start:          ri.SuggestedWindow.Start,
		End:            ri.SuggestedWindow.End,
		ExplanationURL: ri.ExplanationURL,
		RetryAfter:     ri.RetryAfter,
	}, nil
}

// CertID returns the ARI certificate identifier of leaf.
func CertID(leaf *x509.Certificate) (string, error) {
	return certificate.MakeARICertID(leaf)
}

func newLego(ctx context.Context, cfg Config, acct *Account, kt KeyType) (*lego.Client, error) {
	installLegoLogger(cfg.Logger)
	hc, err := cfg.httpClient()
	if err != nil {
		return nil, err
	}
	lcfg := lego.NewConfig(legoUser{acct})
	lcfg.CADirURL = cfg.Directory
	lcfg.HTTPClient = hc
	lcfg.UserAgent = cfg.UserAgent
	if lcfg.UserAgent == "" {
		lcfg.UserAgent = "certctl"
	}
	lcfg.Certificate.KeyType = kt.lego()
	lcfg.Certificate.Timeout = cfg.CertTimeout
	if lcfg.Certificate.Timeout <= 0 {
		lcfg.Certificate.Timeout = 60 * time.Second
	}
	lc, err := runCtx(ctx, func() (*lego.Client, error) { return lego.NewClient(lcfg) })
	if err != nil {
		return nil, classify(cfg.Directory, err)
	}
	return lc, nil
}

// setSolver configures lego for ch and returns what releases the shared
// responders it took.
func setSolver(ctx context.Context, lc *lego.Client, ch Challenge) (func(), error) {
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
			return none, lc.Challenge.SetHTTP01Provider(ch.HTTPResponder, http01.SetDelay(0))
		}
		r, release, err := AcquireHTTPResponder(ctx, ch.HTTPAddr)
		if err != nil {
			return nil, err
		}
		return release, lc.Challenge.SetHTTP01Provider(r, http01.SetDelay(0))
	case TLSALPN01:
		r, release, err := AcquireTLSALPNResponder(ctx, ch.TLSAddr)
		if err != nil {
			return nil, err
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

// runCtx runs f, which ignores contexts (lego v4), and returns early with
// ctx's error when ctx ends first; f then finishes in the background.
func runCtx[T any](ctx context.Context, f func() (T, error)) (T, error) {
	if ctx.Done() == nil {
		return f()
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// classify turns lego's errors into this package's typed errors.
func classify(directory string, err error) error {
	if err == nil {
		return nil
	}
	var rl *legoacme.RateLimitedError
	if errors.As(err, &rl) {
		d, _ := api.ParseRetryAfter(rl.RetryAfter)
		return &RateLimitedError{RetryAfter: d, Detail: rl.Detail}
	}
	var pd *legoacme.ProblemDetails
	if errors.As(err, &pd) {
		switch strings.TrimPrefix(pd.Type, "urn:ietf:params:acme:error:") {
		case "rateLimited":
			return &RateLimitedError{Detail: pd.Detail}
		case "unauthorized", "connection", "dns", "incorrectResponse", "caa", "tls", "rejectedIdentifier":
			return &ValidationError{Domain: failedDomain(err), Detail: pd.Detail, Err: err}
		case "accountDoesNotExist":
			return fmt.Errorf("%w: account does not exist: %s", ErrUnauthorized, pd.Detail)
		case "externalAccountRequired":
			return ErrEABRequired
		}
		if strings.Contains(err.Error(), "invalid authorization") || strings.Contains(err.Error(), "invalid challenge") {
			return &ValidationError{Domain: failedDomain(err), Detail: pd.Detail, Err: err}
		}
		return fmt.Errorf("CA said: %s (%s)", pd.Detail, pd.Type)
	}
	var ue *url.Error
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ue) || errors.As(err, &oe) || errors.As(err, &ne) {
		return &UnreachableError{Directory: directory, Err: rootCause(err)}
	}
	if strings.Contains(err.Error(), "get directory at") {
		return &UnreachableError{Directory: directory, Err: err}
	}
	return err
}

// failedDomain finds the domain in lego's "[domain] ..." per-domain errors.
func failedDomain(err error) string {
	for _, line := range strings.Split(err.Error(), "\n") {
		if i := strings.Index(line, "["); i >= 0 {
			if j := strings.Index(line[i:], "]"); j > 1 {
				return line[i+1 : i+j]
			}
		}
	}
	return "?"
}

func rootCause(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
