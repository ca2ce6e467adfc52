package renew

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/internal/certpem"
	"github.com/certctl/certctl/store"
)

// obtain renews c in four steps: order (pre hooks, then the CA), validate,
// commit (store the new version as active), then deploy and notify. The
// caller holds c's lock; exists says whether c is already stored.
func (s *Service) obtain(ctx context.Context, c *store.Certificate, exists bool) Result {
	res := Result{Name: c.Name}
	prev := c.ActiveVersion()
	if prev != nil {
		res.PrevSerial = prev.Serial
	}
	start := s.now()
	wall := time.Now()
	s.log().Info("ordering certificate", "name", c.Name, "replaces", res.PrevSerial)
	cert, err := s.order(ctx, c, prev, &res.Timings)
	stored := time.Now()
	if err == nil {
		err = s.validate(cert, c, prev)
	}
	res.Duration = s.now().Sub(start)
	if err != nil {
		err = fmt.Errorf("%s: %w", c.Name, err)
		s.fail(ctx, c, exists, err)
		res.Action, res.Err = ActionFailed, err
		if exists {
			res.Next = s.Decide(c)
		}
		res.Timings.Total = time.Since(wall)
		return res
	}
	v, next, err := s.commit(ctx, c, cert, start, exists)
	res.Timings.Store = time.Since(stored)
	if err != nil {
		res.Action, res.Err = ActionFailed, err
		res.Timings.Total = time.Since(wall)
		return res
	}
	res.Action = ActionIssued
	if prev != nil {
		res.Action = ActionRenewed
	}
	res.Serial, res.NotAfter, res.Next = v.Serial, v.NotAfter, next
	s.log().Info("certificate "+string(res.Action), "name", c.Name, "serial", v.Serial, "not_after", v.NotAfter,
		"took", s.now().Sub(start).Round(time.Millisecond))
	deployed := time.Now()
	res.DeployErr = s.activated(ctx, c)
	res.Timings.Deploy = time.Since(deployed)
	res.Timings.Total = time.Since(wall)
	return res
}

// order runs the pre hooks and asks c's CA for a new certificate, adding
// the time of each step to tm.
func (s *Service) order(ctx context.Context, c *store.Certificate, prev *store.Version, tm *Timings) (*acme.Certificate, error) {
	t0 := time.Now()
	if err := s.runHooks(ctx, HookPre, c, noFiles, nil); err != nil {
		return nil, err
	}
	t1 := time.Now()
	tm.Hooks = t1.Sub(t0)
	iss, err := s.issuer(ctx, c)
	if err != nil {
		return nil, err
	}
	tm.Account = time.Since(t1)
	kt, err := acme.ParseKeyType(c.KeyType)
	if err != nil {
		return nil, err
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
	if len(c.CSR) > 0 {
		req.CSR = c.CSR
	} else if c.ReuseKey && prev != nil {
		if req.KeyPEM, err = reusableKey(prev, kt); err != nil {
			return nil, err
		}
		if req.KeyPEM == nil {
			s.log().Info("not reusing the key: the key type changed", "name", c.Name, "key_type", kt)
		}
	}
	s.log().Debug("ordering", "name", c.Name, "domains", c.Domains)
	t2 := time.Now()
	if err := s.acquireOrderSlot(ctx); err != nil {
		return nil, err
	}
	tm.Order += time.Since(t2)
	cert, err := iss.Obtain(ctx, req)
	if err == nil {
		tm.add(cert.Timings)
	}
	return cert, err
}

// reusableKey returns the key of v to certify again, or nil when it is not
// of type kt (the key type was changed since).
func reusableKey(v *store.Version, kt acme.KeyType) ([]byte, error) {
	keyPEM, err := v.Key()
	if err != nil {
		return nil, fmt.Errorf("reusing the key: %w", err)
	}
	key, err := acme.ParsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("reusing the key: %w", err)
	}
	if t, err := acme.KeyTypeOf(key); err != nil || t != kt {
		return nil, nil
	}
	return keyPEM, nil
}

// challenge turns c's stored challenge settings into a request's, with the
// service's overrides.
func (s *Service) challenge(ch store.Challenge) acme.Challenge {
	out := acme.Challenge{
		Type:          ch.Type,
		HTTPAddr:      ch.HTTPAddr,
		Webroot:       ch.Webroot,
		DNSProvider:   ch.DNSProvider,
		DNSResolvers:  ch.DNSResolvers,
		TLSAddr:       ch.TLSAddr,
		HTTPResponder: s.Solvers.HTTPResponder,
		TLSResponder:  s.Solvers.TLSResponder,
	}
	if ch.Type == acme.DNS01 && s.Solvers.DNS != nil {
		out.DNS = s.Solvers.DNS
	}
	if s.Solvers.HTTPAddr != "" {
		out.HTTPAddr = s.Solvers.HTTPAddr
	}
	if s.Solvers.Shared != nil {
		out.Shared = SharedChallenges(s.Solvers.Shared)
	}
	return out
}

// validate checks a new certificate before it may become active: see
// [acme.Certificate.Validate], and it must not expire before the active
// version for the same names (a CA answering with an older certificate).
func (s *Service) validate(cert *acme.Certificate, c *store.Certificate, prev *store.Version) error {
	now := s.now()
	if err := cert.Validate(c.Domains, now); err != nil {
		return err
	}
	if prev != nil && !prev.Revoked && cert.Leaf.NotAfter.Before(prev.NotAfter) && now.Before(prev.NotAfter) &&
		slices.Equal(sortedCopy(c.Domains), sortedCopy(leafNames(prev))) {
		return fmt.Errorf("%w (%s < %s)", ErrNotNewer, cert.Leaf.NotAfter.Format(time.RFC3339), prev.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// commit stores cert as c's new active version, with its renewal state reset
// and its next check scheduled, and returns the version and that decision.
func (s *Service) commit(ctx context.Context, c *store.Certificate, cert *acme.Certificate, start time.Time, exists bool) (store.Version, Decision, error) {
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
	d := s.Decide(c)
	schedule(c, d)
	if !exists {
		c.Revision = 0
	}
	s.log().Debug("committing", "name", c.Name, "serial", v.Serial)
	if err := s.Store.Put(ctx, c); err != nil {
		return v, d, fmt.Errorf("%s: saving new version: %w", c.Name, err)
	}
	return v, d, nil
}

// activated puts c's new active version into service: the in-process
// callback, the file bindings and deploy hooks, then the post hooks. A
// deployment failure is recorded, reported and returned; the version stays
// active.
func (s *Service) activated(ctx context.Context, c *store.Certificate) error {
	s.log().Debug("deploying", "name", c.Name)
	if s.OnRenewed != nil {
		s.OnRenewed(ctx, c)
	}
	files, derr := s.deploy(ctx, c)
	if derr != nil {
		s.log().Info("deploying renewed certificate failed", "name", c.Name, "err", derr)
		s.logHookErr(c, HookFailure, s.runHooks(ctx, HookFailure, c, files, derr))
		s.notifyFailure(c, derr)
	} else {
		s.notifySuccess(c)
	}
	s.logHookErr(c, HookPost, s.runHooks(ctx, HookPost, c, files, derr))
	return derr
}

// fail records a failed attempt (when c is stored), runs the failure and
// post hooks and notifies. The failure is logged at info level: it is the
// caller's to report (the CLI prints it once, the Manager logs it as an
// error).
func (s *Service) fail(ctx context.Context, c *store.Certificate, exists bool, cause error) {
	// A missing or wrong store key is this process's configuration, not a
	// failed renewal: recording it would put the certificate into back-off
	// for every process that has the key.
	if exists && !errors.Is(cause, store.ErrSealed) && !errors.Is(cause, store.ErrWrongKey) {
		s.recordFailure(ctx, c, cause)
	}
	s.log().Info("renewal failed", "name", c.Name, "err", cause)
	s.logHookErr(c, HookFailure, s.runHooks(ctx, HookFailure, c, noFiles, cause))
	s.logHookErr(c, HookPost, s.runHooks(ctx, HookPost, c, noFiles, cause))
	s.notifyFailure(c, cause)
}

func (s *Service) logHookErr(c *store.Certificate, event HookEvent, err error) {
	if err != nil {
		s.log().Error(string(event)+" hook", "name", c.Name, "err", err)
	}
}

// recordFailure stores a failed attempt and when to retry: exponential
// back-off with jitter, never before the CA's Retry-After.
func (s *Service) recordFailure(ctx context.Context, c *store.Certificate, cause error) {
	now := s.now()
	wait := acme.RetryAfter(cause)
	c.Renewal.Attempts++
	c.Renewal.LastError = cause.Error()
	c.Renewal.LastAttempt = now
	c.Renewal.Next = s.Policy.RetryAt(c.Renewal.Attempts, now, wait, func(d time.Duration) time.Duration {
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
// and stores a randomly chosen time inside a new window. When the CA cannot
// be asked, it waits a while before asking again.
func (s *Service) refreshARI(ctx context.Context, c *store.Certificate) {
	if err := s.fetchARI(ctx, c); err != nil {
		s.log().Warn("renewal info unavailable", "name", c.Name, "err", err)
		c.ARI.RetryAfter = s.now().Add(ariUnavailable)
	}
}

func (s *Service) fetchARI(ctx context.Context, c *store.Certificate) error {
	v := c.ActiveVersion()
	now := s.now()
	if v == nil || v.Revoked || !now.Before(v.NotAfter) || now.Before(c.ARI.RetryAfter) {
		return nil
	}
	leaf, err := parseLeaf(v)
	if err != nil {
		return err
	}
	iss, err := s.issuer(ctx, c)
	if err != nil {
		return err
	}
	ri, err := iss.RenewalInfo(ctx, leaf)
	if errors.Is(err, acme.ErrNoARI) {
		c.ARI.RetryAfter = now.Add(ariNoSupport)
		return s.Store.Put(ctx, c)
	}
	if err != nil {
		return err
	}
	retry := ri.RetryAfter
	if retry <= 0 {
		retry = ariFallback
	}
	retry = min(max(retry, ariMinWait), ariMaxWait)
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
	schedule(c, s.Decide(c))
	return s.Store.Put(ctx, c)
}

func leafNames(v *store.Version) []string {
	leaf, err := parseLeaf(v)
	if err != nil {
		return nil
	}
	names := slices.Clone(leaf.DNSNames)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

// parseLeaf parses v's leaf certificate; its key is not needed (and may
// be sealed).
func parseLeaf(v *store.Version) (*x509.Certificate, error) {
	chain, err := certpem.ParseChain(v.CertPEM)
	if err != nil {
		return nil, err
	}
	return chain[0], nil
}
