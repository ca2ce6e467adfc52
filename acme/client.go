package acme

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-acme/lego/v4/acme/api"
	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/challenge/http01"
	"github.com/go-acme/lego/v4/lego"
)

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

// Request describes one certificate order.
type Request struct {
	// Domains are the names to certify (see [NormalizeDomains]).
	Domains []string
	// KeyType is the certificate key's type; empty means [EC256].
	KeyType KeyType
	// Challenge says how to prove control of Domains.
	Challenge      Challenge
	Profile        string    // ACME profile; empty lets the CA choose
	PreferredChain string    // common name of the preferred root
	NotAfter       time.Time // asks the CA for an earlier expiry (if it supports it)
	// Replaces is the certificate being renewed; its ARI ID goes in the
	// order's "replaces" field when the CA supports ARI.
	Replaces *x509.Certificate
	// KeyPEM, if set, is the private key to certify again (PEM) instead of
	// a new one of KeyType.
	KeyPEM []byte
	// CSR, if set, is a certificate signing request (PEM or DER, see
	// [ParseCSR]) to order with: the CA certifies its key and names (which
	// Domains must list) and the result has no private key. KeyType and
	// KeyPEM are ignored.
	CSR []byte
}

// Obtain orders, validates and downloads a certificate. The result has not
// yet been validated: call [Certificate.Validate]. Its errors do not repeat
// the request's domains, which the caller knows (a [ValidationError] names
// the domain that failed).
func (c *Client) Obtain(ctx context.Context, req Request) (*Certificate, error) {
	start := time.Now()
	var phases *phaseTransport
	var gate *retryGate
	lc, err := newLegoVia(ctx, c.cfg, c.acct, req.KeyType, func(rt http.RoundTripper) http.RoundTripper {
		gate = newRetryGate(ctx, rt)
		phases = newPhaseTransport(gate)
		return phases
	})
	if err != nil {
		return nil, err
	}
	sol, err := setSolver(ctx, lc, req.Challenge, c.log())
	if err != nil {
		return nil, err
	}
	defer sol.release()
	order, csr, err := orderFunc(lc, req)
	if err != nil {
		return nil, err
	}
	var replaces string
	if req.Replaces != nil {
		if id, err := CertID(req.Replaces); err == nil {
			replaces = id
		}
	}
	res, err := runCtx(ctx, func() (*certificate.Resource, error) { return order(replaces) })
	if err != nil && replaces != "" && refusedReplaces(err) && gate.retryAfter() == 0 {
		// "replaces" is advisory (RFC 9773): a CA that refuses it for a
		// reason other than rate limits still issues without it (but a CA
		// that asked to wait with a Retry-After is not asked again now).
		c.log().Warn("CA refused the order with replaces; ordering without it", "domains", req.Domains, "err", err)
		replaces = ""
		res, err = runCtx(ctx, func() (*certificate.Resource, error) { return order(replaces) })
	}
	if err != nil {
		err = classify(c.cfg.Directory, req.Domains, err)
		if ra := gate.retryAfter(); ra > RetryAfter(err) {
			err = &BusyError{RetryAfter: ra, Err: err}
		}
		var ve *ValidationError
		if errors.As(err, &ve) {
			c.diagnose(ctx, req.Challenge, sol, ve)
		}
		return nil, fmt.Errorf("obtaining: %w", err)
	}
	cert, err := ParseCertificate(res.Certificate, res.PrivateKey)
	if err != nil {
		return nil, err
	}
	cert.CertURL = res.CertURL
	cert.Replaces = replaces
	cert.CSR = csr
	cert.Timings = phases.timings(start, time.Now())
	return cert, nil
}

// orderFunc returns the lego call that places req's order, given the ARI
// ID of the certificate it replaces (or ""), and req's parsed CSR if it has
// one.
func orderFunc(lc *lego.Client, req Request) (func(replaces string) (*certificate.Resource, error), *x509.CertificateRequest, error) {
	if len(req.CSR) > 0 {
		csr, _, err := ParseCSR(req.CSR)
		if err != nil {
			return nil, nil, err
		}
		return func(replaces string) (*certificate.Resource, error) {
			return lc.Certificate.ObtainForCSR(certificate.ObtainForCSRRequest{
				CSR:            csr,
				Bundle:         true,
				Profile:        req.Profile,
				PreferredChain: req.PreferredChain,
				NotAfter:       req.NotAfter,
				ReplacesCertID: replaces,
			})
		}, csr, nil
	}
	or := certificate.ObtainRequest{
		Domains:        req.Domains,
		Bundle:         true,
		Profile:        req.Profile,
		PreferredChain: req.PreferredChain,
		NotAfter:       req.NotAfter,
	}
	if req.KeyPEM != nil {
		key, err := ParsePrivateKey(req.KeyPEM)
		if err != nil {
			return nil, nil, fmt.Errorf("key to reuse: %w", err)
		}
		or.PrivateKey = key
	}
	return func(replaces string) (*certificate.Resource, error) {
		or.ReplacesCertID = replaces
		return lc.Certificate.Obtain(or)
	}, nil, nil
}

// diagnose adds to ve what certctl can find out itself about the failed
// validation of ve.Domain: the challenge, the URL the CA asked and the file
// written for it, and, with resolvers (the challenge's, else
// [Config.Resolvers]), the name's addresses next to this host's or the CAA
// records that refused the CA.
func (c *Client) diagnose(ctx context.Context, ch Challenge, sol *solver, ve *ValidationError) {
	ve.Challenge = ch.Type
	if ve.Challenge == "" {
		ve.Challenge = HTTP01
	}
	if strings.Contains(ve.Domain, ",") {
		return // several names: no one name to look at
	}
	if tok := sol.tokens.get(ve.Domain); tok != "" && ve.Challenge == HTTP01 {
		host := ve.Domain
		if strings.Contains(host, ":") { // an IPv6 address
			host = "[" + host + "]"
		}
		ve.URL = "http://" + host + http01.ChallengePath(tok)
		if ch.Webroot != "" {
			ve.Path = tokenPath(ch.Webroot, tok)
		}
	}
	resolvers := ch.DNSResolvers
	if len(resolvers) == 0 {
		resolvers = c.cfg.Resolvers
	}
	if len(resolvers) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
	defer cancel()
	l := &Lookup{Resolvers: slices.Clone(resolvers)}
	switch {
	case ve.Problem == "caa":
		l.CAAName, l.CAA, l.Err = lookupCAA(ctx, resolvers, strings.TrimPrefix(ve.Domain, "*."))
		if hc, err := c.cfg.httpClient(); err == nil {
			l.CAAIdentities = caaIdentities(ctx, hc, c.cfg.Directory)
		}
	case ve.Challenge == HTTP01 || ve.Challenge == TLSALPN01:
		switch ve.Problem {
		case "connection", "dns", "unauthorized", "incorrectResponse", "tls":
		default:
			return
		}
		l.Addrs, l.Err = lookupAddrs(ctx, resolvers, ve.Domain)
		l.Listen, l.Host = sol.listen, hostAddrs()
	default:
		return
	}
	c.log().Info("looked up a name that failed validation", "domain", ve.Domain, "resolvers", resolvers,
		"addrs", l.Addrs, "caa", l.CAA, "err", l.Err)
	ve.Lookup = l
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
		return fmt.Errorf("revoking: %w", classify(c.cfg.Directory, nil, err))
	}
	return nil
}

// RenewalInfo is a CA's suggested renewal window for a certificate (ARI).
type RenewalInfo struct {
	// Start and End bound the window in which the CA suggests renewing.
	Start, End time.Time
	// ExplanationURL, if set, is a page where the CA explains the window.
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
		return nil, fmt.Errorf("renewal info: %w", classify(c.cfg.Directory, nil, err))
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
