package cli

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/fsnotify/fsnotify"

	"github.com/certctl/certctl/internal/desired"
	"github.com/certctl/certctl/renew"
)

// configReconciler makes a store match the daemon's --config file: at
// start, on SIGHUP and whenever the file's content changes.
//
// Changes are seen through fsnotify on the file's directory rather than by
// polling: an edit is applied at once instead of at the next poll, costs
// nothing while nothing changes, and watching the directory (not the file)
// also sees the editors and configuration managers that replace a file by
// renaming a new one over it, and Kubernetes' symlink swaps. Every event in
// the directory only leads to reading and hashing the file; the store is
// reconciled when the hash differs from the last one applied, so a burst of
// events for one save applies it once.
type configReconciler struct {
	g       *globals
	svc     *renew.Service
	file    string
	workers int
	log     *slog.Logger
	kick    chan string
	applied [32]byte // hash of the content last applied
}

// newConfigReconciler checks the file once, so that a daemon started with
// a bad file fails at once with the file's errors on errw.
func newConfigReconciler(g *globals, svc *renew.Service, file string, workers int, errw io.Writer) (*configReconciler, error) {
	if _, err := g.loadSpec(file, errw); err != nil {
		return nil, err
	}
	log := g.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &configReconciler{g: g, svc: svc, file: file, workers: workers, log: log, kick: make(chan string, 1)}, nil
}

// trigger asks for a reconcile (for reason) as soon as the one running, if
// any, is done; requests made meanwhile are merged. A nil r ignores it.
func (r *configReconciler) trigger(reason string) {
	if r == nil {
		return
	}
	select {
	case r.kick <- reason:
	default:
	}
}

// run reconciles at once, then on each trigger and file change, until ctx
// is done.
func (r *configReconciler) run(ctx context.Context) {
	var events <-chan fsnotify.Event
	var errs <-chan error
	w, err := fsnotify.NewWatcher()
	if err == nil {
		if err = w.Add(filepath.Dir(r.file)); err == nil {
			events, errs = w.Events, w.Errors
		}
		defer w.Close()
	}
	if err != nil {
		r.log.Error("config: cannot watch the file for changes; reconciling at start and on SIGHUP only", "file", r.file, "err", err)
	}
	r.reconcile(ctx, "start", true)
	for {
		select {
		case <-ctx.Done():
			return
		case reason := <-r.kick:
			r.reconcile(ctx, reason, true)
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			r.reconcile(ctx, "file changed", false)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			r.log.Warn("config: watching the file", "file", r.file, "err", err)
		}
	}
}

// reconcile applies the file; unless always, only when its content is not
// the one last applied.
func (r *configReconciler) reconcile(ctx context.Context, reason string, always bool) {
	data, err := os.ReadFile(r.file)
	if err != nil {
		if always {
			r.log.Error("config unreadable; nothing applied", "file", r.file, "reason", reason, "err", err)
		}
		return
	}
	hash := sha256.Sum256(data)
	if !always && hash == r.applied {
		return
	}
	r.log.Info("config: reconciling", "file", r.file, "reason", reason)
	spec, err := desired.Parse(r.file, data)
	if err == nil {
		err = r.g.fillSpec(spec)
	}
	if err != nil {
		// The store keeps what it has; the problems are logged one by one.
		var es desired.Errors
		if errors.As(err, &es) {
			for _, e := range es {
				r.log.Error("config invalid", "problem", e.Error())
			}
		}
		r.log.Error("config invalid; nothing applied", "file", r.file, "reason", reason, "err", oneLine(err))
		r.applied = hash
		return
	}
	steps, err := planFor(ctx, r.svc.Store, spec, false)
	if err != nil {
		r.log.Error("config: planning", "file", r.file, "err", err)
		return
	}
	rs := carryOut(ctx, r.svc, steps, r.workers)
	counts := map[desired.Action]int{}
	failed := 0
	for i, res := range rs {
		if _, err := failureOf(res); err != nil {
			failed++
			r.log.Error("config: certificate failed", "name", res.Name, "err", failureText(res.Name, err))
			continue
		}
		counts[steps[i].Action]++
	}
	r.applied = spec.Hash
	r.log.Info("config applied", "file", r.file, "reason", reason, "created", counts[desired.Create],
		"updated", counts[desired.Update], "reordered", counts[desired.Reorder], "kept", counts[desired.Keep], "failed", failed)
}
