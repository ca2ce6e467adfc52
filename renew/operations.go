package renew

import (
	"context"
	"fmt"

	"github.com/certctl/certctl/export"
	"github.com/certctl/certctl/store"
)

// Revoke revokes the active version of name at its CA with an RFC 5280
// reason code and marks it revoked; the policy then treats it as due.
func (s *Service) Revoke(ctx context.Context, name string, reason int) (*store.Version, error) {
	var out store.Version
	err := s.locked(ctx, name, func(c *store.Certificate) error {
		v := c.ActiveVersion()
		if v == nil {
			return fmt.Errorf("%s: %w", name, store.ErrNoActiveVersion)
		}
		iss, err := s.issuer(ctx, c)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := iss.Revoke(ctx, v.CertPEM, reason); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		v.Revoked, v.RevokedAt, v.RevokeReason = true, s.now(), reason
		schedule(c, s.Decide(c))
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
// is still valid and not revoked, and puts it into service: the OnRenewed
// callback, then its file bindings and deploy hooks. If only that
// deployment fails, the rolled-back record is returned with the error.
func (s *Service) Rollback(ctx context.Context, name string) (*store.Certificate, error) {
	var out *store.Certificate
	var deployErr error
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
		schedule(c, s.Decide(c))
		if err := s.Store.Put(ctx, c); err != nil {
			return fmt.Errorf("%s: saving rollback: %w", name, err)
		}
		out = c
		if s.OnRenewed != nil {
			s.OnRenewed(ctx, c)
		}
		_, deployErr = s.deploy(ctx, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, deployErr
}

// RemoveOptions say what [Service.Remove] does besides deleting the record.
// The zero value deletes the exported files too.
type RemoveOptions struct {
	// KeepFiles leaves the files exported by the certificate's file
	// bindings in place; [Removed].Kept lists them.
	KeepFiles bool
}

// Removed reports what [Service.Remove] did with the files exported by a
// certificate's file bindings.
type Removed struct {
	// Files are the paths deleted: private keys first (privkey.pem, then
	// the PFX), then certificates, then emptied directories.
	Files []string
	// Kept are the exported files left in place (RemoveOptions.KeepFiles).
	Kept []string
}

// Remove deletes the certificate called name from the store (it is not
// revoked), and the files its file bindings exported unless o.KeepFiles:
// a removed certificate's private key is not left readable on disk
// unannounced. The files go first, under the certificate's lock; if one
// cannot be deleted (a directory that is a symbolic link, a permission),
// Remove fails and the record stays, so that it can be retried.
func (s *Service) Remove(ctx context.Context, name string, o RemoveOptions) (Removed, error) {
	var out Removed
	err := s.locked(ctx, name, func(c *store.Certificate) error {
		for _, b := range c.Bindings {
			t := export.FileTarget{Dir: b.Dir, PFX: b.PFX}
			if b.Dir == "" && b.PFX == "" {
				continue
			}
			if o.KeepFiles {
				out.Kept = append(out.Kept, export.Exported(c.Name, t)...)
				continue
			}
			files, err := export.Remove(c.Name, t)
			out.Files = append(out.Files, files...)
			if err != nil {
				return err
			}
		}
		return s.Store.Delete(ctx, name)
	})
	return out, err
}

// Deploy re-runs the file bindings and deploy hooks of name's active
// version, under its lock (after `certctl configure` changed them, for
// example).
func (s *Service) Deploy(ctx context.Context, name string) error {
	return s.locked(ctx, name, func(c *store.Certificate) error {
		if c.ActiveVersion() == nil {
			return fmt.Errorf("%s: %w", name, store.ErrNoActiveVersion)
		}
		_, err := s.deploy(ctx, c)
		return err
	})
}
