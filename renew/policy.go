package renew

import (
	"fmt"
	"hash/fnv"
	"time"

	"github.com/certctl/certctl/store"
)

// Reasons a renewal time was chosen, as shown by `certctl list`.
const (
	ReasonNoCertificate = "no certificate yet"
	ReasonExpired       = "expired"
	ReasonRevoked       = "revoked"
	ReasonARI           = "inside the CA's ARI window"
	ReasonThird         = "a third of the lifetime left"
	ReasonHalf          = "half of the lifetime left (short-lived)"
	ReasonRetry         = "retry after failure"
)

// shortLived is the lifetime under which a certificate renews with half of
// it left instead of a third.
const shortLived = 10 * 24 * time.Hour

// ReasonCheckARI is the reason of a [Decision.Check] that comes before the
// renewal time because the CA's renewal information should be fetched first.
const ReasonCheckARI = "check the CA's renewal information"

// ariFallback is how long to wait before asking the CA for renewal
// information again when it sent no Retry-After, and the bounds of any wait.
const (
	ariFallback = 6 * time.Hour
	ariMinWait  = time.Minute
	ariMaxWait  = 24 * time.Hour
	// ariNoSupport is how long a CA without ARI is left alone.
	ariNoSupport = 24 * time.Hour
	// ariUnavailable is how long to wait after a failed renewal-info request.
	ariUnavailable = 15 * time.Minute
)

// Decision says when a certificate should be renewed and why, and when a
// scheduler should next look at it.
type Decision struct {
	// At is when the certificate should be renewed; Reason says why (one of
	// the Reason constants, the ARI one followed by its window).
	At     time.Time
	Reason string
	// Check is when the certificate needs attention next: At, or earlier when
	// the CA's renewal information is to be fetched first ([ReasonCheckARI]),
	// or the retry time after failures. The store's renewal index holds it.
	Check       time.Time
	CheckReason string
}

// Due reports whether the decision says to renew at now.
func (d Decision) Due(now time.Time) bool { return !d.At.After(now) }

// Policy decides when certificates are due. The zero value is ready to use.
type Policy struct {
	// JitterFraction is the largest share of a certificate's lifetime by
	// which its renewal is moved earlier, deterministically per certificate,
	// so that certificates issued together do not renew together. Zero
	// means 1/50; negative disables jitter.
	JitterFraction float64
	// MinBackoff and MaxBackoff bound the wait after failed renewals (see
	// [Policy.RetryAt]). Zero means the package's [MinBackoff] and
	// [MaxBackoff]; tests and fault drills shorten them.
	MinBackoff, MaxBackoff time.Duration
}

// Decide is the one rule for when c is due, a pure function of its active
// version, its ARI state, its failure state and now:
//   - no certificate, an expired or a revoked one: now;
//   - inside the CA's ARI window when it gave one (at the time chosen in it,
//     but not inside the last tenth of the lifetime);
//   - otherwise when a third of the lifetime is left (half for lifetimes
//     under 10 days), moved earlier by a per-certificate jitter;
//   - after failures, not before the retry time that [RetryAt] gave.
//
// Check adds when the CA's renewal information should be fetched (never
// fetched: now; otherwise when the CA's Retry-After ends).
func (p Policy) Decide(c *store.Certificate, now time.Time) Decision {
	d := p.renewAt(c, now)
	failing := c.Renewal.Attempts > 0 && !c.Renewal.Next.IsZero()
	if failing && c.Renewal.Next.After(d.At) {
		d.At, d.Reason = c.Renewal.Next, ReasonRetry
	}
	d.Check, d.CheckReason = d.At, d.Reason
	if failing {
		d.Check, d.CheckReason = c.Renewal.Next, ReasonRetry
		return d
	}
	v := c.ActiveVersion()
	if v == nil || v.Revoked || !now.Before(v.NotAfter) {
		return d
	}
	check := c.ARI.RetryAfter
	if c.ARI.Fetched.IsZero() && check.IsZero() {
		check = now
	}
	if !check.IsZero() && check.Before(d.Check) {
		d.Check, d.CheckReason = check, ReasonCheckARI
	}
	return d
}

// renewAt is Decide's renewal time before failures are taken into account.
func (p Policy) renewAt(c *store.Certificate, now time.Time) Decision {
	v := c.ActiveVersion()
	if v == nil {
		return Decision{At: now, Reason: ReasonNoCertificate}
	}
	if !now.Before(v.NotAfter) {
		return Decision{At: now, Reason: ReasonExpired}
	}
	if v.Revoked {
		return Decision{At: now, Reason: ReasonRevoked}
	}
	life := v.NotAfter.Sub(v.NotBefore)
	if a := c.ARI; !a.Chosen.IsZero() {
		// A window reaching into the last tenth of the lifetime is cut
		// there: a renewal that fails at the very end has no time left.
		at := a.Chosen
		if latest := v.NotAfter.Add(-life / 10); at.After(latest) {
			at = latest
		}
		return Decision{At: at, Reason: fmt.Sprintf("%s %s to %s", ReasonARI,
			a.WindowStart.UTC().Format(time.RFC3339), a.WindowEnd.UTC().Format(time.RFC3339))}
	}
	left, reason := life/3, ReasonThird
	if life < shortLived {
		left, reason = life/2, ReasonHalf
	}
	return Decision{At: v.NotAfter.Add(-left).Add(-p.jitter(c.Name, v.Serial, life)), Reason: reason}
}

// schedule stores d's check time in c's renewal state, which the store
// indexes, so that "what needs attention" stays a range scan.
func schedule(c *store.Certificate, d Decision) {
	c.Renewal.Next, c.Renewal.Reason = d.Check, d.CheckReason
}

// jitter is a deterministic offset in [0, life*fraction) for one version.
func (p Policy) jitter(name, serial string, life time.Duration) time.Duration {
	f := p.JitterFraction
	if f < 0 {
		return 0
	}
	if f == 0 {
		f = 1.0 / 50
	}
	span := time.Duration(float64(life) * f)
	if span <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(serial))
	return time.Duration(h.Sum64() % uint64(span))
}

// Status summarizes a certificate for `certctl list` and the status metric.
type Status string

// The statuses, in the order of [Statuses].
const (
	StatusValid   Status = "valid"   // active and not due
	StatusDue     Status = "due"     // renewal is due
	StatusFailing Status = "failing" // the last renewal or deployment failed
	StatusExpired Status = "expired" // the active certificate expired
	StatusRevoked Status = "revoked" // the active certificate was revoked
	StatusPending Status = "pending" // never issued
)

// Statuses lists every [Status], as the certctl_certificate_status metric
// reports them.
var Statuses = []Status{StatusValid, StatusDue, StatusFailing, StatusExpired, StatusRevoked, StatusPending}

// StatusOf returns c's status at now, given its decision d.
func StatusOf(c *store.Certificate, d Decision, now time.Time) Status {
	v := c.ActiveVersion()
	switch {
	case v == nil:
		if c.Renewal.LastError != "" {
			return StatusFailing
		}
		return StatusPending
	case !now.Before(v.NotAfter):
		return StatusExpired
	case c.Renewal.Attempts > 0 && c.Renewal.LastError != "", c.Renewal.DeployError != "":
		return StatusFailing
	case v.Revoked:
		return StatusRevoked
	case d.Due(now):
		return StatusDue
	}
	return StatusValid
}

// Backoff bounds for failed renewals.
const (
	MinBackoff = time.Minute
	MaxBackoff = 6 * time.Hour
)

// RetryAt returns when to try again after the attempts-th consecutive
// failure at now: exponential from [MinBackoff] to [MaxBackoff] with up to
// 20% jitter, never before the CA's retryAfter, and never after the
// certificate expires when that is later than now.
func RetryAt(attempts int, now time.Time, retryAfter time.Duration, jitter func(time.Duration) time.Duration) time.Time {
	return Policy{}.RetryAt(attempts, now, retryAfter, jitter)
}

// RetryAt is the package's RetryAt with p's backoff bounds.
func (p Policy) RetryAt(attempts int, now time.Time, retryAfter time.Duration, jitter func(time.Duration) time.Duration) time.Time {
	lo, hi := p.MinBackoff, p.MaxBackoff
	if lo <= 0 {
		lo = MinBackoff
	}
	if hi <= 0 {
		hi = MaxBackoff
	}
	hi = max(hi, lo)
	d := lo
	for i := 1; i < attempts && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	if jitter != nil {
		d += jitter(d / 5)
	}
	d = max(d, retryAfter)
	return now.Add(d)
}
