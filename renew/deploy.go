package renew

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/certctl/certctl/export"
	"github.com/certctl/certctl/store"
)

// hookEnv builds the environment of c's hooks for event.
func hookEnv(event HookEvent, c *store.Certificate, files export.ExportedFiles, cause error) HookEnv {
	e := HookEnv{Event: event, Name: c.Name, Domains: c.Domains,
		CertFile: files.Cert, KeyFile: files.Key, ChainFile: files.Chain, FullchainFile: files.Fullchain,
		PFXFile: files.PFX}
	if files.PFX != "" {
		// Where the password of that PFX is, never the password itself.
		for _, b := range c.Bindings {
			if b.PFX == files.PFX {
				e.PFXPasswordFile, e.PFXPasswordEnv = b.PFXPasswordFile, b.PFXPasswordEnv
				break
			}
		}
	}
	if v := c.ActiveVersion(); v != nil {
		e.Serial, e.NotAfter = v.Serial, v.NotAfter
	}
	if cause != nil {
		e.Err = cause.Error()
	}
	return e
}

// runHooks runs the global then the certificate's commands for event and
// returns the first failure.
func (s *Service) runHooks(ctx context.Context, event HookEvent, c *store.Certificate, files export.ExportedFiles, cause error) error {
	var cmds [][]string
	for _, h := range []store.Hooks{s.GlobalHooks, c.Hooks} {
		switch event {
		case HookPre:
			cmds = append(cmds, h.Pre)
		case HookDeploy:
			cmds = append(cmds, h.Deploy)
		case HookPost:
			cmds = append(cmds, h.Post)
		case HookFailure:
			cmds = append(cmds, h.Failure)
		}
	}
	env := hookEnv(event, c, files, cause)
	var errs []error
	for _, argv := range cmds {
		if len(argv) == 0 {
			continue
		}
		if err := RunHook(ctx, argv, env, s.HookTimeout, s.log()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// deploy exports c's active version through its file bindings, runs their
// reload commands and then the deploy hooks. The new version stays active
// whatever happens here; failures are returned for reporting.
func (s *Service) deploy(ctx context.Context, c *store.Certificate) (export.ExportedFiles, error) {
	v := c.ActiveVersion()
	var files export.ExportedFiles
	var errs []error
	for _, b := range c.Bindings {
		pass, err := export.ReadPassword(b.PFXPasswordFile, b.PFXPasswordEnv)
		if err != nil && b.PFX != "" {
			errs = append(errs, fmt.Errorf("%s: file binding: %w", c.Name, err))
			continue
		}
		t := export.FileTarget{Dir: b.Dir, PFX: b.PFX, PFXPassword: pass, PFXLegacy: b.PFXLegacy, ReloadCmd: b.ReloadCmd, KeyHeldElsewhere: len(c.CSR) > 0}
		if b.Dir != "" || b.PFX != "" {
			key, err := v.Key()
			if t.KeyHeldElsewhere && errors.Is(err, store.ErrNoKey) {
				err = nil
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: file binding: %w", c.Name, err))
				continue
			}
			out, err := export.Export(c.Name, v.CertPEM, v.ChainPEM, key, t)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: file binding: %w", c.Name, err))
				continue
			}
			if files.Cert == "" {
				files.Cert, files.Chain, files.Fullchain, files.Key = out.Cert, out.Chain, out.Fullchain, out.Key
			}
			if files.PFX == "" {
				files.PFX = out.PFX
			}
		}
		if len(b.ReloadCmd) > 0 {
			if err := export.Reload(ctx, t, s.log()); err != nil {
				errs = append(errs, fmt.Errorf("%s: reload: %w", c.Name, err))
			}
		}
	}
	if err := s.runHooks(ctx, HookDeploy, c, files, nil); err != nil {
		errs = append(errs, err)
	}
	err := errors.Join(errs...)
	if err != nil || c.Renewal.DeployError != "" {
		s.recordDeploy(ctx, c.Name, err)
	}
	return files, err
}

// recordDeploy stores the outcome of a deployment, so that `list` shows a
// certificate that was renewed but could not be put in place.
func (s *Service) recordDeploy(ctx context.Context, name string, derr error) {
	msg := ""
	if derr != nil {
		msg = derr.Error()
	}
	_, err := store.Update(ctx, s.Store, name, func(c *store.Certificate) error {
		if c.Renewal.DeployError == msg {
			return errUnchanged
		}
		c.Renewal.DeployError = msg
		return nil
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		s.log().Error("recording deployment", "name", name, "err", err)
	}
}

// noFiles is the export of a certificate that has no file binding (or whose
// renewal failed before anything was exported).
var noFiles export.ExportedFiles

// errUnchanged stops a store.Update that has nothing to write.
var errUnchanged = errors.New("unchanged")

// notifySuccess sends an "issued" notification for c's first version, or a
// "renewed" one for a later version, once it is active and deployed (a
// Notifier sends them only when its Events ask for them).
func (s *Service) notifySuccess(c *store.Certificate) {
	if s.Notifier == nil {
		return
	}
	n := Notification{Event: NotifyRenewed, Name: c.Name, Domains: c.Domains, Time: s.now()}
	if len(c.Versions) < 2 {
		n.Event = NotifyIssued
	}
	if v := c.ActiveVersion(); v != nil {
		n.NotAfter = v.NotAfter
	}
	s.Notifier.Notify(n)
}

// notifyFailure sends a notification for a failed attempt, and an
// "expiring" one (once per version) when c is in the last tenth of its
// lifetime without a successful renewal.
func (s *Service) notifyFailure(c *store.Certificate, cause error) {
	if s.Notifier == nil {
		return
	}
	n := Notification{Event: NotifyRenewalFailed, Name: c.Name, Domains: c.Domains, Error: cause.Error(), Time: s.now()}
	v := c.ActiveVersion()
	if v != nil {
		n.NotAfter = v.NotAfter
	}
	s.Notifier.Notify(n)
	if v == nil {
		return
	}
	life := v.NotAfter.Sub(v.NotBefore)
	if s.now().Before(v.NotAfter.Add(-life / 10)) {
		return
	}
	key := c.Name + "\x00" + v.Serial
	if _, dup := s.expiringSent.LoadOrStore(key, struct{}{}); dup {
		return
	}
	e := n
	e.Event = NotifyExpiring
	e.Error = fmt.Sprintf("expires in %s and renewal keeps failing: %s", v.NotAfter.Sub(s.now()).Round(time.Second), cause)
	s.Notifier.Notify(e)
}
