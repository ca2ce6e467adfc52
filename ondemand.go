package certctl

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/certctl/certctl/acme"
)

// maxRemembered bounds the names remembered as denied or backing off, so
// that handshakes for random names cannot grow the Manager without limit.
const maxRemembered = 10000

// onDemand obtains certificates during handshakes, as an OnDemand says.
type onDemand struct {
	m       *Manager
	p       OnDemand // defaults applied
	limiter *rate.Limiter
	group   singleflight.Group
	now     func() time.Time // the clock of denials and back-off

	mu     sync.Mutex
	denied map[string]time.Time    // name -> end of its denial
	failed map[string]failedRecord // name -> back-off

	// Outcomes of the handshakes that reached on-demand issuance.
	obtained, denials, limited, backingOff, failures, invalid atomic.Uint64
}

// failedRecord is a name's back-off after failed orders.
type failedRecord struct {
	until    time.Time
	failures int
}

func newOnDemand(m *Manager, p OnDemand) *onDemand {
	if p.Timeout <= 0 {
		p.Timeout = 30 * time.Second
	}
	if p.Orders <= 0 {
		p.Orders = 10
	}
	if p.Per <= 0 {
		p.Per = time.Minute
	}
	if p.DenyTTL <= 0 {
		p.DenyTTL = 5 * time.Minute
	}
	if p.Backoff <= 0 {
		p.Backoff = time.Minute
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = time.Hour
	}
	return &onDemand{
		m:       m,
		p:       p,
		limiter: rate.NewLimiter(rate.Every(p.Per/time.Duration(p.Orders)), p.Orders),
		now:     time.Now,
		denied:  make(map[string]time.Time),
		failed:  make(map[string]failedRecord),
	}
}

// get obtains the certificate of hello's server name, which the Manager
// does not hold, waiting at most Timeout.
func (o *onDemand) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name, err := onDemandName(hello.ServerName)
	if err != nil {
		o.invalid.Add(1)
		return nil, err
	}
	if err := o.remembered(name); err != nil {
		return nil, err
	}
	ctx := hello.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ch := o.group.DoChan(name, func() (any, error) { return nil, o.obtain(name) })
	timer := time.NewTimer(o.p.Timeout)
	defer timer.Stop()
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: waiting for its certificate: %w", name, ctx.Err())
	case <-timer.C:
		return nil, fmt.Errorf("%s: no certificate within %s", name, o.p.Timeout)
	}
	return o.m.binder.GetCertificate(hello)
}

// obtain runs once at a time per name: it asks Allow, then serves the
// certificate another node stored, or orders one within the rate limit.
func (o *onDemand) obtain(name string) error {
	m := o.m
	if !m.track() {
		return ErrClosed
	}
	defer m.wg.Done()
	if m.binder.Serial(name) != "" { // a flight that just ended
		return nil
	}
	ctx, cancel := context.WithTimeout(m.ctx, o.p.Timeout)
	defer cancel()
	if err := o.allow(ctx, name); err != nil {
		o.denials.Add(1)
		o.remember(o.denied, name, o.now().Add(o.p.DenyTTL))
		m.log.Info("on-demand certificate denied", "name", name, "err", err)
		return fmt.Errorf("%s: %w: %w", name, ErrDenied, err)
	}
	// In a fleet another node may have obtained it already.
	if err := m.loadStored(ctx, name); err == nil {
		o.obtained.Add(1)
		return nil
	}
	if !o.limiter.Allow() {
		o.limited.Add(1)
		m.log.Warn("on-demand order refused by the rate limit", "name", name)
		return fmt.Errorf("%s: %w", name, ErrRateLimited)
	}
	if err := m.obtain(ctx, name); err != nil {
		o.failures.Add(1)
		o.fail(name)
		return err
	}
	o.obtained.Add(1)
	o.mu.Lock()
	delete(o.failed, name)
	o.mu.Unlock()
	return nil
}

// allow asks the policy; a panic in it denies.
func (o *onDemand) allow(ctx context.Context, name string) (err error) {
	if o.p.Allow == nil {
		return fmt.Errorf("no OnDemand.Allow")
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("OnDemand.Allow panicked: %v", r)
		}
	}()
	return o.p.Allow(ctx, name)
}

// remembered returns the error of a name denied or backing off.
func (o *onDemand) remembered(name string) error {
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if until, ok := o.denied[name]; ok {
		if now.Before(until) {
			o.denials.Add(1)
			return fmt.Errorf("%s: %w (remembered)", name, ErrDenied)
		}
		delete(o.denied, name)
	}
	if f, ok := o.failed[name]; ok && now.Before(f.until) {
		o.backingOff.Add(1)
		return fmt.Errorf("%s: %w until %s", name, ErrBackoff, f.until.Format(time.RFC3339))
	}
	return nil
}

// remember records name in the denied set until until, keeping the set
// bounded.
func (o *onDemand) remember(set map[string]time.Time, name string, until time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(set) >= maxRemembered {
		now := o.now()
		for n, u := range set {
			if !now.Before(u) {
				delete(set, n)
			}
		}
		for n := range set { // still full: forget some at random
			if len(set) < maxRemembered/2 {
				break
			}
			delete(set, n)
		}
	}
	set[name] = until
}

// fail starts or lengthens name's back-off.
func (o *onDemand) fail(name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f := o.failed[name]
	if len(o.failed) >= maxRemembered && f.failures == 0 {
		clear(o.failed)
	}
	f.failures++
	wait := o.p.Backoff
	for i := 1; i < f.failures && wait < o.p.MaxBackoff; i++ {
		wait *= 2
	}
	f.until = o.now().Add(min(wait, o.p.MaxBackoff))
	o.failed[name] = f
}

// onDemandName checks a client's server name before anyone is asked about
// it: an IP address, a wildcard or anything not a valid DNS name is refused.
func onDemandName(s string) (string, error) {
	s = strings.TrimSuffix(s, ".")
	if _, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return "", fmt.Errorf("%q: %w: an IP address", s, ErrBadServerName)
	}
	if strings.Contains(s, "*") {
		return "", fmt.Errorf("%q: %w: a wildcard", s, ErrBadServerName)
	}
	name, err := acme.NormalizeDomain(s)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadServerName, err)
	}
	return name, nil
}
