package renew

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/store"
)

// Action says what happened to one certificate, in a [Result].
type Action string

// The actions.
const (
	ActionIssued  Action = "issued"  // a first certificate was obtained
	ActionRenewed Action = "renewed" // a new version replaced the active one
	ActionKept    Action = "kept"    // a valid certificate exists; nothing was asked of the CA
	ActionNotDue  Action = "not-due" // renewal is not due yet
	ActionFailed  Action = "failed"  // the attempt failed; see Err
	// ActionBusy: another certctl held the certificate's lock, so a
	// [Manager] left it for a later scan (Err matches [ErrLockHeld]).
	ActionBusy Action = "busy"
)

// DefaultLockTimeout is how long a [Service] waits for a certificate's lock
// when its LockTimeout is zero: longer than an order takes, so a command
// run while a daemon renews the same certificate waits for it, yet bounded,
// so a lock held by a stuck process fails with [ErrLockHeld] instead of
// hanging.
const DefaultLockTimeout = 5 * time.Minute

// Result is what happened to one certificate.
type Result struct {
	Name       string
	Action     Action
	Serial     string // the active serial afterwards
	PrevSerial string // the serial it replaced, if any
	NotAfter   time.Time
	Next       Decision      // the next renewal
	Duration   time.Duration // time spent ordering, for renewals attempted
	Err        error
	// DeployErr is a failure of the file bindings or deploy hooks after a
	// successful renewal; the new version stays active.
	DeployErr error
	// Timings are where the attempt's time went (steps not reached are
	// zero; Total is set for a certificate issued).
	Timings Timings
}

// Solvers override how every certificate's challenges are answered, for
// servers and tests that answer them themselves. The zero value overrides
// nothing.
type Solvers struct {
	// DNS, if set, publishes every dns-01 record instead of the provider
	// named in each certificate.
	DNS acme.DNSProvider
	// HTTPResponder, if set, serves every http-01 token instead of the
	// shared responder on each certificate's address.
	HTTPResponder *acme.HTTPResponder
	// TLSResponder, if set, answers every tls-alpn-01 validation instead of
	// the shared responder on each certificate's address: a server answering
	// them in its own port-443 handshakes (package certctl's TLSConfig).
	TLSResponder *acme.TLSALPNResponder
	// HTTPAddr, if set, replaces each certificate's HTTP-01 responder
	// address (the daemon's --http-addr).
	HTTPAddr string
	// Shared, if set, is where http-01 and tls-alpn-01 answers are published
	// for the other nodes of a fleet, and where the responders look up the
	// answers of theirs (see [SharedChallenges]): the store the service
	// works on, for a fleet behind a load balancer.
	Shared store.Shared
}

// Service issues, renews, revokes, rolls back, configures and deploys the
// certificates of a store. Every change to one certificate happens under
// that certificate's lock, after re-reading it, so several processes sharing
// a store never order the same certificate twice. Set the fields before
// first use; zero values are documented per field. A Service is safe for
// concurrent use.
type Service struct {
	// Store holds certificates and accounts. Required.
	Store Store
	// Issuers gives the ACME client of each certificate's CA and account.
	// Nil means an [Accounts] over Store that may not register accounts.
	Issuers Issuers
	// Logger receives progress logs. Nil discards them.
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Policy decides when certificates are due.
	Policy Policy
	// Solvers override how challenges are answered.
	Solvers Solvers
	// Workers bounds concurrent renewals in RenewMany. Zero means 4.
	Workers int
	// OnRenewed, if set, is called after a new version became active (a
	// renewal or a rollback) and before the renewal is reported done: the
	// place to swap it into running servers.
	OnRenewed func(ctx context.Context, c *store.Certificate)
	// GlobalHooks run for every certificate, before its own hooks.
	GlobalHooks store.Hooks
	// HookTimeout bounds each hook. Zero means DefaultHookTimeout.
	HookTimeout time.Duration
	// Notifier, if set, is told about failed renewals, certificates about
	// to expire without renewal, and issued and renewed ones (which it
	// sends only when its Events ask for them).
	Notifier *Notifier
	// LockTimeout bounds how long an operation waits for a certificate's
	// lock while another process or goroutine holds it; past it the
	// operation fails with an error matching [ErrLockHeld] ("another
	// certctl holds the lock of NAME"). Zero means [DefaultLockTimeout];
	// negative waits as long as the context allows. A [Manager] never
	// waits: it skips a held certificate until a later scan.
	LockTimeout time.Duration
	// MaxOrdersPerSecond caps how many new orders the service places per
	// second, across all its workers (a token bucket with a burst of one
	// second's worth, at least 1): politeness towards a CA when many
	// certificates are due at once. Zero means no cap. A change takes
	// effect with the next order, with a full bucket.
	MaxOrdersPerSecond float64
	// MaxConcurrentOrders caps the orders one CA account has in flight at
	// once in this service (from the new order to the certificate's
	// download, or the order's failure), whoever asks for them: RenewMany's
	// workers, a [Manager], callers of Issue and Renew such as `certctl
	// apply`, on-demand issuance. An order past the cap waits for a slot
	// (its wait counts as order time in [Timings]). Zero means the worker
	// count (Workers, 4 when zero): as many as RenewMany runs; negative
	// means no cap. The cap is per process; read at each order.
	MaxConcurrentOrders int
	// OnResult, if set, is called with each result of RenewMany as the
	// certificate is done (from the worker's goroutine: concurrently), for
	// progress reports.
	OnResult func(Result)

	defaultIssuers sync.Once
	limiterMu      sync.Mutex
	limiter        *rate.Limiter
	limiterRate    float64 // the MaxOrdersPerSecond limiter was made for
	issuers        Issuers
	expiringSent   sync.Map // name\x00serial -> struct{}
	orderSlots     sync.Map // directory\x00email -> *orderSlots
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger { return logOrDiscard(s.Logger) }

// orderLimiter returns the limiter of MaxOrdersPerSecond, nil when there is
// no cap.
func (s *Service) orderLimiter() *rate.Limiter {
	s.limiterMu.Lock()
	defer s.limiterMu.Unlock()
	if r := s.MaxOrdersPerSecond; r != s.limiterRate {
		s.limiter, s.limiterRate = nil, r
		if r > 0 {
			s.limiter = rate.NewLimiter(rate.Limit(r), max(1, int(r)))
		}
	}
	return s.limiter
}

// Decide returns c's renewal decision at the service's current time.
func (s *Service) Decide(c *store.Certificate) Decision { return s.Policy.Decide(c, s.now()) }

func (s *Service) issuer(ctx context.Context, c *store.Certificate) (Issuer, error) {
	s.defaultIssuers.Do(func() {
		s.issuers = s.Issuers
		if s.issuers == nil {
			s.issuers = &Accounts{Store: s.Store, Logger: s.Logger, Now: s.Now}
		}
	})
	iss, err := s.issuers.Issuer(ctx, c.Directory, c.Email)
	if err != nil {
		return nil, err
	}
	return cappedIssuer{Issuer: iss, s: s, account: c.Directory + "\x00" + c.Email}, nil
}

// maxConcurrentOrders is MaxConcurrentOrders with its default applied; 0
// means no cap.
func (s *Service) maxConcurrentOrders() int {
	switch n := s.MaxConcurrentOrders; {
	case n < 0:
		return 0
	case n > 0:
		return n
	case s.Workers > 0:
		return s.Workers
	}
	return 4
}

// orderSlots counts the orders of one account in flight against a cap
// that may change between orders.
type orderSlots struct {
	mu    sync.Mutex
	n     int           // orders in flight
	freed chan struct{} // closed and replaced when an order ends
}

// acquire waits until fewer than limit orders are in flight, then counts
// one more.
func (o *orderSlots) acquire(ctx context.Context, limit int) error {
	for {
		o.mu.Lock()
		if o.n < limit {
			o.n++
			o.mu.Unlock()
			return nil
		}
		if o.freed == nil {
			o.freed = make(chan struct{})
		}
		freed := o.freed
		o.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release counts one order less and wakes the waiters.
func (o *orderSlots) release() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n--
	if o.freed != nil {
		close(o.freed)
		o.freed = nil
	}
}

// cappedIssuer is an account's [Issuer] whose orders wait for a slot under
// the service's MaxConcurrentOrders.
type cappedIssuer struct {
	Issuer
	s       *Service
	account string
}

func (c cappedIssuer) Obtain(ctx context.Context, req acme.Request) (*acme.Certificate, error) {
	limit := c.s.maxConcurrentOrders()
	if limit == 0 {
		return c.Issuer.Obtain(ctx, req)
	}
	v, _ := c.s.orderSlots.LoadOrStore(c.account, &orderSlots{})
	slots := v.(*orderSlots)
	start := time.Now()
	if err := slots.acquire(ctx, limit); err != nil {
		return nil, fmt.Errorf("waiting for an order slot (--max-concurrent-orders %d): %w", limit, err)
	}
	defer slots.release()
	waited := time.Since(start)
	cert, err := c.Issuer.Obtain(ctx, req)
	if cert != nil {
		cert.Timings.Order += waited
	}
	return cert, err
}

// lock takes name's lock, waiting at most LockTimeout for another holder.
func (s *Service) lock(ctx context.Context, name string) (unlock func(), err error) {
	d := s.LockTimeout
	if d == 0 {
		d = DefaultLockTimeout
	}
	if d < 0 {
		return s.Store.Lock(ctx, name)
	}
	lctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	unlock, err = s.Store.Lock(lctx, name)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil, &lockHeldError{name: name, waited: d}
	}
	return unlock, err
}

// tryLocker is the optional capability of a [Store] to take a lock without
// waiting ([store.Store] has it).
type tryLocker interface {
	TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error)
}

// tryLock takes name's lock if it is free, and fails with [ErrLockHeld]
// otherwise. A store without TryLock is waited on as by lock.
func (s *Service) tryLock(ctx context.Context, name string) (unlock func(), err error) {
	t, ok := s.Store.(tryLocker)
	if !ok {
		return s.lock(ctx, name)
	}
	unlock, ok, err = t.TryLock(ctx, name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &lockHeldError{name: name}
	}
	return unlock, nil
}

// locked runs fn on name's record, read after taking its lock, and holds
// the lock until fn returns. Errors from the store already name the
// certificate.
func (s *Service) locked(ctx context.Context, name string, fn func(*store.Certificate) error) error {
	return s.lockedTry(ctx, name, false, fn)
}

// lockedTry is locked, not waiting for the lock when try is set.
func (s *Service) lockedTry(ctx context.Context, name string, try bool, fn func(*store.Certificate) error) error {
	take := s.lock
	if try {
		take = s.tryLock
	}
	unlock, err := take(ctx, name)
	if err != nil {
		return err
	}
	defer unlock()
	c, err := s.Store.Get(ctx, name)
	if err != nil {
		return err
	}
	return fn(c)
}

// Issue obtains a certificate for tmpl (name, domains and settings) and makes
// it active. If a valid certificate for the same names exists and is not due,
// it is kept without contacting the CA, unless force (or the CSR to order
// with changed); its settings are updated from tmpl, and new file bindings
// get the kept certificate at once.
func (s *Service) Issue(ctx context.Context, tmpl *store.Certificate, force bool) Result {
	name := tmpl.Name
	unlock, err := s.lock(ctx, name)
	if err != nil {
		return failed(name, err)
	}
	defer unlock()
	cur, err := s.Store.Get(ctx, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return failed(name, err)
	}
	if cur == nil {
		return s.obtain(ctx, tmpl.Clone(), false)
	}
	now := s.now()
	sameNames := slices.Equal(sortedCopy(cur.Domains), sortedCopy(tmpl.Domains)) && bytes.Equal(cur.CSR, tmpl.CSR)
	oldBindings := slices.Clone(cur.Bindings)
	applyIssue(cur, tmpl)
	v := cur.ActiveVersion()
	// The keep rule ignores a failure back-off: a user asking again gets a
	// new attempt.
	if v == nil || force || !sameNames || s.Policy.renewAt(cur, now).Due(now) {
		return s.obtain(ctx, cur, true)
	}
	d := s.Decide(cur)
	schedule(cur, d)
	if err := s.Store.Put(ctx, cur); err != nil {
		return failed(name, fmt.Errorf("%s: saving settings: %w", name, err))
	}
	r := Result{Name: name, Action: ActionKept, Serial: v.Serial, NotAfter: v.NotAfter, Next: d}
	if !reflect.DeepEqual(oldBindings, cur.Bindings) {
		_, r.DeployErr = s.deploy(ctx, cur)
	}
	return r
}

// failed is the result of an attempt that failed before reaching the CA.
func failed(name string, err error) Result {
	return Result{Name: name, Action: ActionFailed, Err: err}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// Renew renews the certificate called name if it is due (after asking the
// CA for its ARI window when allowed), or unconditionally with force.
func (s *Service) Renew(ctx context.Context, name string, force bool) Result {
	return s.renew(ctx, name, force, false)
}

// renew is Renew; with try it does not wait for a held lock and reports
// the certificate as [ActionBusy].
func (s *Service) renew(ctx context.Context, name string, force, try bool) Result {
	var res Result
	err := s.lockedTry(ctx, name, try, func(c *store.Certificate) error {
		if !force {
			s.refreshARI(ctx, c)
			if d := s.Decide(c); !d.Due(s.now()) {
				res = s.notDue(ctx, c, d)
				return nil
			}
		}
		res = s.obtain(ctx, c, true)
		return nil
	})
	if try && errors.Is(err, ErrLockHeld) {
		return Result{Name: name, Action: ActionBusy, Err: err}
	}
	if err != nil {
		return failed(name, err)
	}
	return res
}

// notDue reports c as not due and, when the renewal index said to look at it
// now, moves its index entry on so that a scheduler does not come back at
// once.
func (s *Service) notDue(ctx context.Context, c *store.Certificate, d Decision) Result {
	now := s.now()
	if !c.Renewal.Next.After(now) {
		schedule(c, d)
		if !c.Renewal.Next.After(now) {
			c.Renewal.Next = d.At
		}
		if err := s.Store.Put(ctx, c); err != nil {
			s.log().Warn("rescheduling", "name", c.Name, "err", err)
		}
	}
	r := Result{Name: c.Name, Action: ActionNotDue, Next: d}
	if v := c.ActiveVersion(); v != nil {
		r.Serial, r.NotAfter = v.Serial, v.NotAfter
	}
	return r
}

// RenewMany renews the named certificates, or every certificate when names
// is empty, in parallel (at most Workers at once), and returns one result per
// certificate in the order of names (or by name). A renewal that panics is
// recovered: its result is a failure wrapping [ErrPanic], recorded in the
// store like any failed attempt, and the others go on.
func (s *Service) RenewMany(ctx context.Context, names []string, force bool) ([]Result, error) {
	return s.renewMany(ctx, names, force, false)
}

// renewMany is RenewMany; with try a certificate whose lock is held is not
// waited for but reported [ActionBusy].
func (s *Service) renewMany(ctx context.Context, names []string, force, try bool) ([]Result, error) {
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
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if s.OnResult != nil {
				defer func() { s.OnResult(results[i]) }()
			}
			defer s.recoverRenewal(ctx, n, &results[i])
			results[i] = s.renew(ctx, n, force, try)
		})
	}
	wg.Wait()
	return results, nil
}

// recoverRenewal, deferred by a renewal worker, turns a panic of the
// renewal of name into a failed result: the panic value and stack are
// logged at error level and the attempt is recorded as failed (under the
// lock again, the renewal's own having been released while unwinding),
// with its failure hooks and notification.
func (s *Service) recoverRenewal(ctx context.Context, name string, res *Result) {
	p := recover()
	if p == nil {
		return
	}
	err := fmt.Errorf("%s: %w: %v", name, ErrPanic, p)
	s.log().Error("renewal panicked", "name", name, "panic", p, "stack", string(debug.Stack()))
	*res = failed(name, err)
	defer func() {
		if p := recover(); p != nil {
			s.log().Error("recording a panicked renewal panicked too", "name", name, "panic", p)
		}
	}()
	if lerr := s.locked(ctx, name, func(c *store.Certificate) error {
		s.fail(ctx, c, true, err)
		return nil
	}); lerr != nil {
		s.log().Error("recording a panicked renewal", "name", name, "err", lerr)
	}
}

// lockHeldError reports a certificate lock held by someone else: not free
// at once (a Manager's try), or not within waited.
type lockHeldError struct {
	name   string
	waited time.Duration
}

func (e *lockHeldError) Error() string {
	if e.waited > 0 {
		return fmt.Sprintf("another certctl holds the lock of %s (waited %s)", e.name, e.waited)
	}
	return fmt.Sprintf("another certctl holds the lock of %s", e.name)
}

func (e *lockHeldError) Is(target error) bool { return target == ErrLockHeld }
