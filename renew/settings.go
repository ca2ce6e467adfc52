package renew

import (
	"context"
	"fmt"
	"slices"

	"github.com/certctl/certctl/store"
)

// Settings are changes to the settings a certificate is renewed and deployed
// with, made without renewing it ([Service.Configure]). Zero fields change
// nothing.
type Settings struct {
	// Bindings, if not nil, replace the file bindings; an empty non-nil
	// slice removes them all.
	Bindings []store.FileBinding
	// ClearHooks removes every hook before Hooks are applied.
	ClearHooks bool
	// Hooks replace the certificate's hooks kind by kind: a kind given here
	// (Pre, Deploy, Post, Failure) replaces that kind; the others are kept.
	Hooks store.Hooks
	// Challenge, if not nil, replaces the challenge settings as a whole
	// (type, addresses, webroot, DNS provider and resolvers); HTTPAddr is
	// applied after it.
	Challenge *store.Challenge
	// HTTPAddr, if set, replaces the HTTP-01 responder address.
	HTTPAddr string
	// KeyType, Profile and PreferredChain, if set, replace the
	// certificate's; they take effect at its next order.
	KeyType, Profile, PreferredChain string
	// ReuseKey, if not nil, sets whether the next orders certify the
	// active version's key again ([store.Certificate.ReuseKey]).
	ReuseKey *bool
	// Deploy re-runs the file bindings and deploy hooks of the active
	// version even if the bindings did not change.
	Deploy bool
}

// Apply makes the changes to c. It is the one rule by which settings are
// merged: `issue` and `configure` merge hooks and bindings with it, and
// `apply` merges a file's defaults into each certificate with it.
func (st Settings) Apply(c *store.Certificate) {
	if st.Bindings != nil {
		c.Bindings = slices.Clone(st.Bindings)
	}
	if st.ClearHooks {
		c.Hooks = store.Hooks{}
	}
	for _, k := range []struct{ src, dst *[]string }{{&st.Hooks.Pre, &c.Hooks.Pre}, {&st.Hooks.Deploy, &c.Hooks.Deploy},
		{&st.Hooks.Post, &c.Hooks.Post}, {&st.Hooks.Failure, &c.Hooks.Failure}} {
		if len(*k.src) > 0 {
			*k.dst = slices.Clone(*k.src)
		}
	}
	if st.Challenge != nil {
		c.Challenge = *st.Challenge
		c.Challenge.DNSResolvers = slices.Clone(st.Challenge.DNSResolvers)
	}
	if st.HTTPAddr != "" {
		c.Challenge.HTTPAddr = st.HTTPAddr
	}
	if st.ReuseKey != nil {
		c.ReuseKey = *st.ReuseKey
	}
	for _, f := range []struct{ src, dst *string }{{&st.KeyType, &c.KeyType}, {&st.Profile, &c.Profile},
		{&st.PreferredChain, &c.PreferredChain}} {
		if *f.src != "" {
			*f.dst = *f.src
		}
	}
}

// applyIssue copies what `issue` sets from tmpl to c: the order settings as
// they are, hooks and bindings by the [Settings] rule (bindings are kept
// when tmpl gives none).
func applyIssue(c, tmpl *store.Certificate) {
	c.Domains = slices.Clone(tmpl.Domains)
	c.KeyType = tmpl.KeyType
	c.Challenge = tmpl.Challenge
	c.Directory = tmpl.Directory
	c.Email = tmpl.Email
	c.Profile = tmpl.Profile
	c.PreferredChain = tmpl.PreferredChain
	c.ReuseKey = tmpl.ReuseKey
	c.CSR = slices.Clone(tmpl.CSR)
	st := Settings{Hooks: tmpl.Hooks}
	if len(tmpl.Bindings) > 0 {
		st.Bindings = tmpl.Bindings
	}
	st.Apply(c)
}

// Configure changes name's settings under its lock and stores them. When st
// gives file bindings (or st.Deploy) and a version is active, it deploys
// that version at once; if only that deployment fails, the stored record is
// returned together with the error.
func (s *Service) Configure(ctx context.Context, name string, st Settings) (*store.Certificate, error) {
	var out *store.Certificate
	var deployErr error
	err := s.locked(ctx, name, func(c *store.Certificate) error {
		if len(c.CSR) > 0 && slices.ContainsFunc(st.Bindings, func(b store.FileBinding) bool { return b.PFX != "" }) {
			return fmt.Errorf("%s: a PFX binding: %w", name, store.ErrNoKey)
		}
		st.Apply(c)
		if err := s.Store.Put(ctx, c); err != nil {
			return fmt.Errorf("%s: saving settings: %w", name, err)
		}
		out = c
		if c.ActiveVersion() != nil && (st.Deploy || len(st.Bindings) > 0) {
			_, deployErr = s.deploy(ctx, c)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, deployErr
}
