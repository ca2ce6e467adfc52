package bindings

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"sync"
	"time"
)

// Source is a set of named certificates kept by someone else, typically a
// store written by another process.
//
// Contract:
//   - Its methods may be called from any goroutine, but never concurrently by
//     one Binder. Each honours ctx: once ctx is done it stops waiting and
//     returns an error (wrapping ctx.Err() when that is the cause).
//   - A certificate's revision changes whenever it does, and Load reports the
//     revision Revisions gave for it unless it changed in between. Sync loads
//     only the certificates whose revision changed since its last pass.
//   - Load reads the certificates called names, at most one [Loaded] per name,
//     in any order. A name that no longer exists, or has nothing to serve, is
//     left out without an error: Sync reports it and the next pass sees it
//     gone from Revisions. An error means the whole call failed; Sync then
//     retries every name of the call on its next pass.
//   - The slices in the returned values belong to the caller, which may keep
//     them: the source must not change them afterwards. Load must not keep
//     or change the names slice it is given.
type Source interface {
	// Generation returns a counter bumped by every write to the source. It
	// must be cheap: it is polled every interval.
	Generation(ctx context.Context) (uint64, error)

	// Revisions returns the revision of every certificate by name.
	Revisions(ctx context.Context) (map[string]uint64, error)

	// Load returns the certificates called names that exist. Sync calls it
	// with at most 1,000 names at a time, so a source can read each batch in
	// one go (one transaction, one request).
	Load(ctx context.Context, names []string) ([]Loaded, error)
}

// Loaded is one certificate read by [Source.Load].
type Loaded struct {
	// Name is the certificate's name in the source, as asked for.
	Name string
	// FullchainPEM is the certificate chain in PEM, leaf first.
	FullchainPEM []byte
	// KeyPEM is the private key in PEM.
	KeyPEM []byte
	// Names are the server names the certificate must serve: Sync refuses a
	// certificate whose leaf does not cover them. Nil means the names the
	// leaf carries.
	Names []string
	// Revision is the certificate's revision, as Revisions reports it.
	Revision uint64
	// Skip, if set, says why the certificate cannot be served here (its
	// private key is held elsewhere): Sync leaves it out (removing a
	// version served before), logs the reason and reports no error.
	Skip string
	// ChainVerified vouches that the source checked, when it stored the
	// certificate, that these very FullchainPEM bytes are at least two
	// certificates, each signed by the next, the last not a self-signed root
	// (as certctl's store does: store.ActivePEM.ChainVerified). Sync then
	// skips those signature checks, the bulk of its work, unless
	// Options.Roots is set. It still checks everything else: the key
	// matches the leaf, the leaf and its issuers are valid now, the leaf
	// covers Names. A source that cannot vouch leaves it false.
	ChainVerified bool
}

// batchSize bounds how many names one Load call reads.
const batchSize = 1000

// minPerWorker is the fewest certificates that make Sync start another
// validating goroutine.
const minPerWorker = 64

// loaded is one certificate read by Sync and its validation.
type loaded struct {
	l   Loaded
	e   *entry
	err error
}

// loadChanged reads names from src in batches of batchSize and validates
// each certificate read at now, on up to GOMAXPROCS goroutines, which work
// on one batch while the next is read (src itself is called from this
// goroutine only). A name missing from the returned map was not found, or
// its batch failed with the returned error.
func (b *Binder) loadChanged(ctx context.Context, src Source, names []string, now time.Time) (map[string]*loaded, error) {
	if len(names) == 0 {
		return nil, nil
	}
	ck := checks{now: now, issuers: new(issuerCache)}
	validate := func(p *loaded) {
		if err := ctx.Err(); err != nil {
			p.err = err // Sync stops at the first name and retries them all
			return
		}
		defer func() {
			if r := recover(); r != nil {
				p.e, p.err = nil, fmt.Errorf("%s: validating: panic: %v", p.l.Name, r)
			}
		}()
		if p.l.Skip != "" {
			return // not served: nothing to check
		}
		c := ck
		c.chainVerified = p.l.ChainVerified
		p.e, p.err = b.parsePEMAt(p.l.Name, p.l.FullchainPEM, p.l.KeyPEM, p.l.Names, c)
	}
	workers := min(runtime.GOMAXPROCS(0), (len(names)+minPerWorker-1)/minPerWorker)
	var (
		work chan *loaded
		wg   sync.WaitGroup
	)
	if workers > 1 {
		work = make(chan *loaded, batchSize)
		for range workers {
			wg.Go(func() {
				for p := range work {
					validate(p)
				}
			})
		}
		// Deferred, so that the workers also end when src panics (Watch
		// recovers it); the caller reads the results after they ended.
		defer func() {
			close(work)
			wg.Wait()
		}()
	}
	out := make(map[string]*loaded, len(names))
	var errs []error
	for i := 0; i < len(names); i += batchSize {
		batch, err := src.Load(ctx, names[i:min(i+batchSize, len(names))])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, l := range batch {
			p := &loaded{l: l}
			out[l.Name] = p
			if work != nil {
				work <- p
			} else {
				validate(p)
			}
		}
	}
	return out, errors.Join(errs...)
}

// sourceState is what Sync last read from its Source.
type sourceState struct {
	mu   sync.Mutex
	seen bool              // gen is meaningful
	gen  uint64            // generation of the last complete pass
	revs map[string]uint64 // name -> revision loaded (or refused) from the source
}

// Sync makes the binder match src in one pass. If src's generation is the one
// of the last complete pass it returns at once, without calling Revisions.
// Otherwise it loads every certificate whose revision changed, validates it as
// Set does (without the chain signatures a source vouches for: see
// [Loaded].ChainVerified), drops the bindings whose names disappeared from
// src, and publishes all of it as one snapshot.
//
// A certificate refused by validation is reported (Options.OnError, logs) and
// not tried again until its revision changes; the binding keeps its previous
// certificate. A failed read is reported and retried on the next pass. The
// returned error joins every failure of the pass; the binder keeps serving
// whatever the error.
//
// A Binder follows at most one Source: Sync and Watch share their state.
// Bindings installed with Set under other names are left alone; a name present
// in both is replaced by the source's certificate whenever its revision changes.
func (b *Binder) Sync(ctx context.Context, src Source) error {
	if src == nil {
		return ErrNilSource
	}
	st := &b.sync
	st.mu.Lock()
	defer st.mu.Unlock()

	gen, err := src.Generation(ctx)
	if err != nil {
		err = fmt.Errorf("source: reading generation: %w", err)
		b.sourceFailed(err)
		return err
	}
	if st.seen && gen == st.gen {
		return nil
	}
	revs, err := src.Revisions(ctx)
	if err != nil {
		err = fmt.Errorf("source: reading revisions: %w", err)
		b.sourceFailed(err)
		return err
	}

	var (
		errs      []error
		retry     bool // a read failed: do the pass again next time
		installed []*entry
		newRevs   = maps.Clone(st.revs)
		removing  []string
	)
	if newRevs == nil {
		newRevs = make(map[string]uint64, len(revs))
	}
	var changed []string
	for name, rev := range revs {
		if old, ok := st.revs[name]; !ok || old != rev {
			changed = append(changed, name)
		}
	}
	fetched, loadErr := b.loadChanged(ctx, src, changed, b.now())
	for _, name := range changed {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			retry = true
			break
		}
		p, ok := fetched[name]
		if !ok {
			err := loadErr
			if err == nil {
				err = errors.New("not found")
			}
			err = fmt.Errorf("%s: loading from source: %w", name, err)
			b.sourceFailedName(name, err)
			errs = append(errs, err)
			retry = true
			continue
		}
		newRevs[name] = p.l.Revision
		if p.l.Skip != "" {
			b.log.Info("certificate not served", "name", name, "reason", p.l.Skip)
			if _, ok := st.revs[name]; ok {
				removing = append(removing, name)
			}
			continue
		}
		if p.err != nil {
			b.refused(name, p.err)
			errs = append(errs, p.err)
			continue
		}
		installed = append(installed, p.e)
	}
	for name := range st.revs {
		if _, ok := revs[name]; !ok {
			removing = append(removing, name)
			delete(newRevs, name)
		}
	}

	b.update(func(t *txn) {
		for _, e := range installed {
			t.put(e)
		}
		for _, name := range removing {
			t.remove(name)
		}
	})
	for _, e := range installed {
		b.log.Debug("certificate installed", "name", e.name, "serial", serialHex(e.cert.Leaf),
			"not_after", e.cert.Leaf.NotAfter, "names", len(e.names), "source_revision", newRevs[e.name])
	}
	for _, name := range removing {
		b.log.Debug("certificate removed", "name", name, "reason", "gone from source")
	}
	if len(installed)+len(removing)+len(errs) > 0 {
		b.log.Info("source synced", "generation", gen, "installed", len(installed), "removed", len(removing),
			"failed", len(errs))
	}
	st.revs = newRevs
	if !retry {
		st.gen, st.seen = gen, true
	}
	return errors.Join(errs...)
}

// Watch keeps the binder in step with src until ctx is done: it runs Sync at
// once and then every interval (zero means one second). A src that is also a
// [Notifier] is synced on each of its notifications instead, and polled only
// every interval or [SafetyPoll], whichever is longer, in case one is lost
// (every interval if its notifications stop). Failures are logged and
// reported through Options.OnError, never fatal; a panic in src is recovered
// and reported the same way. Watch returns ctx's error, or ErrNilSource at
// once for a nil src.
func (b *Binder) Watch(ctx context.Context, src Source, interval time.Duration) error {
	if src == nil {
		return ErrNilSource
	}
	if interval <= 0 {
		interval = time.Second
	}
	if n, ok := src.(Notifier); ok {
		return b.watchNotified(ctx, src, n, interval)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		b.syncRecover(ctx, src)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// syncRecover runs one Sync, turning a panic into a reported error. Errors are
// already reported by Sync itself.
func (b *Binder) syncRecover(ctx context.Context, src Source) {
	defer func() {
		if r := recover(); r != nil {
			b.sourceFailed(fmt.Errorf("source: panic during sync: %v", r))
		}
	}()
	_ = b.Sync(ctx, src)
}

func (b *Binder) sourceFailed(err error) { b.sourceFailedName("", err) }

func (b *Binder) sourceFailedName(name string, err error) {
	b.log.LogAttrs(context.Background(), slog.LevelWarn, "source read failed",
		slog.String("name", name), slog.Any("error", err))
	if b.onError != nil {
		b.onError(name, err)
	}
}
