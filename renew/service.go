package renew

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/export"
	"github.com/certctl/certctl/store"
)

// Actions reported in a [Result].
const (
	ActionIssued  = "issued"  // a first certificate was obtained
	ActionRenewed = "renewed" // a new version replaced the active one
	ActionKept    = "kept"    // a valid certificate exists; nothing was asked of the CA
	ActionNotDue  = "not-due" // renewal is not due yet
	ActionFailed  = "failed"  // the attempt failed; see Err
)

// Result is what happened to one certificate.
type Result struct {
	Name       string
	Action     string
	Serial     string // the active serial afterwards
	PrevSerial string // the serial it replaced, if any
	NotAfter   time.Time
	Next       Decision      // the next renewal
	Duration   time.Duration // time spent ordering, for renewals attempted
	Err        error
	// DeployErr is a failure of the file bindings or deploy hooks after a
	// successful renewal; the new version stays active.
	DeployErr error
}

// Service issues, renews, revokes and rolls back the certificates of a
// store. Every change to one certificate happens under that certificate's
// lock, after re-reading it, so several processes sharing a store never
// order the same certificate twice. Fields must be set before first use;
// zero values are documented per field. A Service is safe for concurrent use.
type Service struct {
	// Store holds certificates and accounts. Required.
	Store store.Store
	// HTTPClient talks to CAs. Nil means acme.NewHTTPClient(nil).
	HTTPClient *http.Client
	// Logger receives progress logs. Nil discards them.
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Policy decides when certificates are due.
	Policy Policy
	// AgreeTOS lets the service register an account, agreeing to the CA's
	// terms, when none exists for a certificate's directory and email.
	AgreeTOS bool
	// EABKeyID and EABHMAC are used when registering an account at a CA
	// that requires external account binding.
	EABKeyID, EABHMAC string
	// DNS, if set, publishes every dns-01 record instead of the provider
	// named in each certificate (library users, tests).
	DNS acme.DNSProvider
	// HTTPResponder, if set, serves every http-01 token instead of the
	// shared responder on each certificate's address.
	HTTPResponder *acme.HTTPResponder
	// HTTPAddr, if set, replaces each certificate's HTTP-01 responder
	// address (the daemon's --http-addr).
	HTTPAddr string
	// Workers bounds concurrent renewals in RenewMany. Zero means 4.
	Workers int
	// OnRenewed, if set, is called after a new version became active and
	// before the renewal is reported done: the place to swap it into
	// running servers.
	OnRenewed func(ctx context.Context, c *store.Certificate)
	// GlobalHooks run for every certificate, before its own hooks.
	GlobalHooks store.Hooks
	// HookTimeout bounds each hook. Zero means DefaultHookTimeout.
	HookTimeout time.Duration
	// Notifier, if set, is told about failed renewals and certificates
	// about to expire without renewal.
	Notifier *Notifier

	clients      sync.Map // directory\x00email -> *acme.Client
	regMu        sync.Mutex
	expiringSent sync.Map // name\x00serial -> struct{}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// schedule sets c's indexed next check (Renewal.Next, Reason): the retry
// time after failures; otherwise the policy's renewal time, or earlier when
// the CA's renewal information should be fetched first, so that "what needs
// attention" stays a range scan of the store's index.
func (s *Service) schedule(c *store.Certificate) {
	if c.Renewal.Attempts > 0 && !c.Renewal.Next.IsZero() {
		return
	}
	now := s.now()
	d := s.Policy.Next(c, now)
	c.Renewal.Next, c.Renewal.Reason = d.At, d.Reason
	v := c.ActiveVersion()
	if v == nil || v.Revoked || !now.Before(v.NotAfter) {
		return
	}
	check := c.ARI.RetryAfter
	if c.ARI.Fetched.IsZero() && check.IsZero() {
		check = now
	}
	if !check.IsZero() && check.Before(c.Renewal.Next) {
		c.Renewal.Next, c.Renewal.Reason = check, "check the CA's renewal information"
	}
}

// Decide returns when c is next due: the policy's answer, pushed back by a
// pending retry after failures.
func (s *Service) Decide(c *store.Certificate) Decision {
	now := s.now()
	d := s.Policy.Next(c, now)
	if c.Renewal.Attempts > 0 && c.Renewal.Next.After(d.At) {
		d = Decision{c.Renewal.Next, ReasonRetry}
	}
	return d
}

// Issue obtains a certificate for tmpl (name, domains and settings) and makes
// it active. If a valid certificate for the same names exists and is not due,
// it is kept without contacting the CA, unless force; its settings are
// updated from tmpl.
func (s *Service) Issue(ctx context.Context, tmpl *store.Certificate, force bool) Result {
	name := tmpl.Name
	unlock, err := s.Store.Lock(ctx, name)
	if err != nil {
		return Result{Name: name, Action: ActionFailed, Err: fmt.Errorf("%s: locking: %w", name, err)}
	}
	defer unlock()

	cur, err := s.Store.Get(ctx, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Result{Name: name, Action: ActionFailed, Err: err}
	}
	if cur != nil && !force && slices.Equal(sortedCopy(cur.Domains), sortedCopy(tmpl.Domains)) {
		if v := cur.ActiveVersion(); v != nil {
			if d := s.Policy.Next(cur, s.now()); !d.Due(s.now()) {
				oldBindings := slices.Clone(cur.Bindings)
				applySettings(cur, tmpl)
				s.schedule(cur)
				if err := s.Store.Put(ctx, cur); err != nil {
					return Result{Name: name, Action: ActionFailed, Err: fmt.Errorf("%s: saving settings: %w", name, err)}
				}
				r := Result{Name: name, Action: ActionKept, Serial: v.Serial, NotAfter: v.NotAfter, Next: d}
				if !reflect.DeepEqual(oldBindings, cur.Bindings) {
					// New file bindings get the kept certificate now.
					_, r.DeployErr = s.deploy(ctx, cur)
				}
				return r
			}
		}
	}
	rec := tmpl.Clone()
	if cur != nil {
		rec = cur
		applySettings(rec, tmpl)
	}
	return s.obtain(ctx, rec, cur != nil)
}

// applySettings copies what a user can set with `issue` from tmpl to c.
func applySettings(c, tmpl *store.Certificate) {
	c.Domains = slices.Clone(tmpl.Domains)
	c.KeyType = tmpl.KeyType
	c.Challenge = tmpl.Challenge
	c.Directory = tmpl.Directory
	c.Email = tmpl.Email
	c.Profile = tmpl.Profile
	c.PreferredChain = tmpl.PreferredChain
	if len(tmpl.Bindings) > 0 {
		c.Bindings = tmpl.Bindings
	}
	if !isZeroHooks(tmpl.Hooks) {
		c.Hooks = tmpl.Hooks
	}
}

func isZeroHooks(h store.Hooks) bool {
	return len(h.Pre)+len(h.Deploy)+len(h.Post)+len(h.Failure) == 0
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// Renew renews the certificate called name if it is due (after asking the
// CA for its ARI window when allowed), or unconditionally with force.
func (s *Service) Renew(ctx context.Context, name string, force bool) Result {
	unlock, err := s.Store.Lock(ctx, name)
	if err != nil {
		return Result{Name: name, Action: ActionFailed, Err: fmt.Errorf("%s: locking: %w", name, err)}
	}
	defer unlock()
	c, err := s.Store.Get(ctx, name)
	if err != nil {
		return Result{Name: name, Action: ActionFailed, Err: fmt.Errorf("%s: %w", name, err)}
	}
	if !force {
		if err := s.refreshARI(ctx, c); err != nil {
			s.log().Warn("renewal info unavailable", "name", name, "err", err)
			c.ARI.RetryAfter = s.now().Add(15 * time.Minute)
		}
		d := s.Decide(c)
		if !d.Due(s.now()) {
			if !c.Renewal.Next.After(s.now()) {
				// The index said "look now" but nothing is due: move it on,
				// so a scheduler does not come back at once.
				s.schedule(c)
				if !c.Renewal.Next.After(s.now()) {
					c.Renewal.Next = d.At
				}
				if err := s.Store.Put(ctx, c); err != nil {
					s.log().Warn("rescheduling", "name", name, "err", err)
				}
			}
			r := Result{Name: name, Action: ActionNotDue, Next: d}
			if v := c.ActiveVersion(); v != nil {
				r.Serial, r.NotAfter = v.Serial, v.NotAfter
			}
			return r
		}
	}
	return s.obtain(ctx, c, true)
}

// RenewMany renews the named certificates, or every certificate when names
// is empty, in parallel (at most Workers at once), and returns one result per
// certificate in the order of names (or by name).
func (s *Service) RenewMany(ctx context.Context, names []string, force bool) ([]Result, error) {
	if len(names) == 0 {
		all, err := s.Store.List(ctx)
		if err != nil {
			return nil, err
		}
		for _, c := range all {
			names = append(names, c.Name)
		}
	}
	workers := s.Workers
	if workers <= 0 {
		workers = 4
	}
	results := make([]Result, len(names))
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = s.Renew(ctx, n, force)
		}()
	}
	wg.Wait()
	return results, nil
}

// obtain orders a new version of c, validates it and makes it active. The
// caller holds c's lock; exists says whether c is already stored.
func (s *Service) obtain(ctx context.Context, c *store.Certificate, exists bool) Result {
	name := c.Name
	res := Result{Name: name}
	prev := c.ActiveVersion()
	if prev != nil {
		res.PrevSerial = prev.Serial
	}
	start := s.now()
	var cert *acme.Certificate
	err := s.runHooks(ctx, HookPre, c, export.ExportedFiles{}, nil)
	if err == nil {
		cert, err = s.order(ctx, c, prev)
	}
	if err == nil {
		err = s.check(cert, c, prev)
	}
	res.Duration = s.now().Sub(start)
	if err != nil {
		res.Action, res.Err = ActionFailed, err
		if exists {
			s.recordFailure(ctx, c, err)
			res.Next = s.Decide(c)
		}
		s.log().Error("renewal failed", "name", name, "err", err)
		if herr := s.runHooks(ctx, HookFailure, c, export.ExportedFiles{}, err); herr != nil {
			s.log().Error("failure hook", "name", name, "err", herr)
		}
		if herr := s.runHooks(ctx, HookPost, c, export.ExportedFiles{}, err); herr != nil {
			s.log().Error("post hook", "name", name, "err", herr)
		}
		s.notifyFailure(c, err)
		return res
	}
	now := s.now()
	v := store.Version{
		Seq:       c.NextSeq(),
		Serial:    cert.Serial(),
		CertPEM:   cert.CertPEM,
		ChainPEM:  cert.ChainPEM,
		KeyPEM:    cert.KeyPEM,
		NotBefore: cert.Leaf.NotBefore,
		NotAfter:  cert.Leaf.NotAfter,
		Issued:    now,
		CertURL:   cert.CertURL,
		Replaces:  cert.Replaces,
	}
	c.AddVersion(v)
	c.ARI = store.ARIState{}
	c.Renewal = store.RenewalState{LastAttempt: start, LastSuccess: now}
	d := s.Policy.Next(c, now)
	s.schedule(c)
	if !exists {
		c.Revision = 0
	}
	if err := s.Store.Put(ctx, c); err != nil {
		res.Action, res.Err = ActionFailed, fmt.Errorf("%s: saving new version: %w", name, err)
		return res
	}
	res.Action = ActionIssued
	if prev != nil {
		res.Action = ActionRenewed
	}
	res.Serial, res.NotAfter, res.Next = v.Serial, v.NotAfter, d
	s.log().Info("certificate "+res.Action, "name", name, "serial", v.Serial, "not_after", v.NotAfter, "took", now.Sub(start).Round(time.Millisecond))
	if s.OnRenewed != nil {
		s.OnRenewed(ctx, c)
	}
	files, derr := s.deploy(ctx, c)
	if derr != nil {
		res.DeployErr = derr
		s.log().Error("deploying renewed certificate", "name", name, "err", derr)
		if herr := s.runHooks(ctx, HookFailure, c, files, derr); herr != nil {
			s.log().Error("failure hook", "name", name, "err", herr)
		}
		s.notifyFailure(c, derr)
	}
	if herr := s.runHooks(ctx, HookPost, c, files, derr); herr != nil {
		s.log().Error("post hook", "name", name, "err", herr)
	}
	return res
}

// check validates a new certificate before it may become active.
func (s *Service) check(cert *acme.Certificate, c *store.Certificate, prev *store.Version) error {
	if err := cert.Validate(c.Domains, s.now()); err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	if prev != nil && !prev.Revoked && cert.Leaf.NotAfter.Before(prev.NotAfter) && s.now().Before(prev.NotAfter) &&
		slices.Equal(sortedCopy(c.Domains), sortedCopy(leafNames(prev))) {
		return fmt.Errorf("%s: %w (%s < %s)", c.Name, ErrNotNewer, cert.Leaf.NotAfter.Format(time.RFC3339), prev.NotAfter.Format(time.RFC3339))
	}
	return nil
}

func leafNames(v *store.Version) []string {
	leaf, err := parseLeaf(v)
	if err != nil {
		return nil
	}
	return leaf.DNSNames
}

func parseLeaf(v *store.Version) (*x509.Certificate, error) {
	pc, err := acme.ParseCertificate(v.CertPEM, v.KeyPEM)
	if err != nil {
		return nil, err
	}
	return pc.Leaf, nil
}

// order asks the CA for a new certificate for c.
func (s *Service) order(ctx context.Context, c *store.Certificate, prev *store.Version) (*acme.Certificate, error) {
	cl, err := s.client(ctx, c.Directory, c.Email)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Name, err)
	}
	kt, err := acme.ParseKeyType(c.KeyType)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Name, err)
	}
	req := acme.Request{
		Domains:        c.Domains,
		KeyType:        kt,
		Challenge:      s.challenge(c.Challenge),
		Profile:        c.Profile,
		PreferredChain: c.PreferredChain,
	}
	if prev != nil {
		if leaf, err := parseLeaf(prev); err == nil {
			req.Replaces = leaf
		}
	}
	cert, err := cl.Obtain(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Name, err)
	}
	return cert, nil
}

func (s *Service) challenge(ch store.Challenge) acme.Challenge {
	out := acme.Challenge{
		Type:          ch.Type,
		HTTPAddr:      ch.HTTPAddr,
		Webroot:       ch.Webroot,
		DNSProvider:   ch.DNSProvider,
		DNSResolvers:  ch.DNSResolvers,
		TLSAddr:       ch.TLSAddr,
		HTTPResponder: s.HTTPResponder,
	}
	if ch.Type == acme.DNS01 && s.DNS != nil {
		out.DNS = s.DNS
	}
	if s.HTTPAddr != "" {
		out.HTTPAddr = s.HTTPAddr
	}
	return out
}

// recordFailure stores a failed attempt and when to retry.
func (s *Service) recordFailure(ctx context.Context, c *store.Certificate, cause error) {
	now := s.now()
	var rl *acme.RateLimitedError
	var wait time.Duration
	if errors.As(cause, &rl) {
		wait = rl.RetryAfter
	}
	c.Renewal.Attempts++
	c.Renewal.LastError = cause.Error()
	c.Renewal.LastAttempt = now
	c.Renewal.Next = RetryAt(c.Renewal.Attempts, now, wait, func(d time.Duration) time.Duration {
		if d <= 0 {
			return 0
		}
		return rand.N(d)
	})
	c.Renewal.Reason = ReasonRetry
	if err := s.Store.Put(ctx, c); err != nil {
		s.log().Error("recording failure", "name", c.Name, "err", err)
	}
}

// refreshARI asks the CA for c's renewal window unless the CA asked to wait,
// and stores a randomly chosen time inside a new window.
func (s *Service) refreshARI(ctx context.Context, c *store.Certificate) error {
	v := c.ActiveVersion()
	now := s.now()
	if v == nil || v.Revoked || !now.Before(v.NotAfter) || now.Before(c.ARI.RetryAfter) {
		return nil
	}
	leaf, err := parseLeaf(v)
	if err != nil {
		return err
	}
	cl, err := s.client(ctx, c.Directory, c.Email)
	if err != nil {
		return err
	}
	ri, err := cl.RenewalInfo(ctx, leaf)
	if errors.Is(err, acme.ErrNoARI) {
		c.ARI.RetryAfter = now.Add(24 * time.Hour)
		return s.Store.Put(ctx, c)
	}
	if err != nil {
		return err
	}
	retry := ri.RetryAfter
	if retry <= 0 {
		retry = 6 * time.Hour
	}
	retry = min(max(retry, time.Minute), 24*time.Hour)
	a := &c.ARI
	if !a.WindowStart.Equal(ri.Start) || !a.WindowEnd.Equal(ri.End) || a.Chosen.IsZero() {
		a.WindowStart, a.WindowEnd = ri.Start, ri.End
		a.Chosen = ri.Start
		if w := ri.End.Sub(ri.Start); w > 0 {
			a.Chosen = ri.Start.Add(rand.N(w))
		}
	}
	a.ExplanationURL = ri.ExplanationURL
	a.Fetched = now
	a.RetryAfter = now.Add(retry)
	if id, err := acme.CertID(leaf); err == nil {
		a.CertID = id
	}
	s.schedule(c)
	return s.Store.Put(ctx, c)
}

// client returns the ACME client for (directory, email), loading or
// registering the account.
func (s *Service) client(ctx context.Context, directory, email string) (*acme.Client, error) {
	key := directory + "\x00" + email
	if c, ok := s.clients.Load(key); ok {
		return c.(*acme.Client), nil
	}
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if c, ok := s.clients.Load(key); ok {
		return c.(*acme.Client), nil
	}
	cfg := s.acmeConfig(directory)
	var acct *acme.Account
	sa, err := s.Store.GetAccount(ctx, directory, email)
	switch {
	case err == nil:
		if acct, err = acme.LoadAccount(email, sa.KeyPEM, sa.URI); err != nil {
			return nil, err
		}
	case errors.Is(err, store.ErrNotFound):
		if !s.AgreeTOS {
			return nil, fmt.Errorf("%s at %s: %w", displayEmail(email), directory, ErrNoAccount)
		}
		acct, err = acme.Register(ctx, cfg, email, acme.RegisterOptions{AgreeTOS: true, EABKeyID: s.EABKeyID, EABHMAC: s.EABHMAC})
		if err != nil {
			return nil, err
		}
		if err := s.Store.PutAccount(ctx, &store.Account{
			Directory: directory, Email: email, KeyPEM: acct.KeyPEM, URI: acct.URI,
			KeyType: string(acme.EC256), Created: s.now(), TOSAgreed: true,
		}); err != nil {
			return nil, fmt.Errorf("account %s: saving: %w", displayEmail(email), err)
		}
		s.log().Info("account registered", "directory", directory, "email", email, "uri", acct.URI)
	default:
		return nil, err
	}
	cl, err := acme.NewClient(cfg, acct)
	if err != nil {
		return nil, err
	}
	s.clients.Store(key, cl)
	return cl, nil
}

func displayEmail(e string) string {
	if e == "" {
		return "account without email"
	}
	return e
}

func (s *Service) acmeConfig(directory string) acme.Config {
	return acme.Config{Directory: directory, HTTPClient: s.HTTPClient, Logger: s.Logger}
}

// Register creates (or returns the existing) account for directory and
// email, agreeing to the CA's terms.
func (s *Service) Register(ctx context.Context, directory, email string) (*store.Account, error) {
	if a, err := s.Store.GetAccount(ctx, directory, email); err == nil {
		return a, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if _, err := s.client(ctx, directory, email); err != nil {
		return nil, err
	}
	return s.Store.GetAccount(ctx, directory, email)
}

// locked runs fn on name's record, read after taking its lock, and holds
// the lock until fn returns.
func (s *Service) locked(ctx context.Context, name string, fn func(*store.Certificate) error) error {
	unlock, err := s.Store.Lock(ctx, name)
	if err != nil {
		return fmt.Errorf("%s: locking: %w", name, err)
	}
	defer unlock()
	c, err := s.Store.Get(ctx, name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return fn(c)
}

// Revoke revokes the active version of name at its CA with an RFC 5280
// reason code and marks it revoked; the policy then treats it as due.
func (s *Service) Revoke(ctx context.Context, name string, reason int) (*store.Version, error) {
	var out store.Version
	err := s.locked(ctx, name, func(c *store.Certificate) error {
		v := c.ActiveVersion()
		if v == nil {
			return fmt.Errorf("%s: %w", name, store.ErrNoActiveVersion)
		}
		cl, err := s.client(ctx, c.Directory, c.Email)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := cl.Revoke(ctx, v.CertPEM, reason); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		v.Revoked, v.RevokedAt, v.RevokeReason = true, s.now(), reason
		s.schedule(c)
		if err := s.Store.Put(ctx, c); err != nil {
			return fmt.Errorf("%s: saving revocation: %w", name, err)
		}
		out = *v
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Rollback re-activates the newest version older than the active one that
// is still valid and not revoked.
func (s *Service) Rollback(ctx context.Context, name string) (*store.Certificate, error) {
	var out *store.Certificate
	err := s.locked(ctx, name, func(c *store.Certificate) error {
		now := s.now()
		var target *store.Version
		for i := len(c.Versions) - 1; i >= 0; i-- {
			v := &c.Versions[i]
			if v.Seq < c.Active && !v.Revoked && now.Before(v.NotAfter) && !now.Before(v.NotBefore) {
				target = v
				break
			}
		}
		if target == nil {
			return fmt.Errorf("%s: %w", name, ErrNoPrevious)
		}
		c.Active = target.Seq
		c.ARI = store.ARIState{}
		s.schedule(c)
		if err := s.Store.Put(ctx, c); err != nil {
			return fmt.Errorf("%s: saving rollback: %w", name, err)
		}
		out = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	if s.OnRenewed != nil {
		s.OnRenewed(ctx, out)
	}
	return out, nil
}

// Remove deletes the certificate called name from the store (it is not
// revoked).
func (s *Service) Remove(ctx context.Context, name string) error {
	unlock, err := s.Store.Lock(ctx, name)
	if err != nil {
		return fmt.Errorf("%s: locking: %w", name, err)
	}
	defer unlock()
	if err := s.Store.Delete(ctx, name); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
