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

// Decision is when a certificate should be renewed and why.
type Decision struct {
	At     time.Time
	Reason string
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
}

// Next returns when c should next be renewed, a pure function of its active
// version, its ARI state and now. It ignores failure back-off, which
// [RetryAt] adds.
func (p Policy) Next(c *store.Certificate, now time.Time) Decision {
	v := c.ActiveVersion()
	if v == nil {
		return Decision{now, ReasonNoCertificate}
	}
	if !now.Before(v.NotAfter) {
		return Decision{now, ReasonExpired}
	}
	if v.Revoked {
		return Decision{now, ReasonRevoked}
	}
	life := v.NotAfter.Sub(v.NotBefore)
	if a := c.ARI; !a.Chosen.IsZero() {
		// A window reaching into the last tenth of the lifetime is cut
		// there: a renewal that fails at the very end has no time left.
		at := a.Chosen
		if latest := v.NotAfter.Add(-life / 10); at.After(latest) {
			at = latest
		}
		return Decision{at, fmt.Sprintf("%s %s to %s", ReasonARI,
			a.WindowStart.UTC().Format(time.RFC3339), a.WindowEnd.UTC().Format(time.RFC3339))}
	}
	left, reason := life/3, ReasonThird
	if life < shortLived {
		left, reason = life/2, ReasonHalf
	}
	at := v.NotAfter.Add(-left).Add(-p.jitter(c.Name, v.Serial, life))
	return Decision{at, reason}
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

// Status summarizes a certificate for `certctl list`: "valid", "due",
// "failing", "expired", "revoked" or "pending" (never issued).
func Status(c *store.Certificate, d Decision, now time.Time) string {
	v := c.ActiveVersion()
	switch {
	case v == nil:
		if c.Renewal.LastError != "" {
			return "failing"
		}
		return "pending"
	case !now.Before(v.NotAfter):
		return "expired"
	case c.Renewal.Attempts > 0 && c.Renewal.LastError != "", c.Renewal.DeployError != "":
		return "failing"
	case v.Revoked:
		return "revoked"
	case d.Due(now):
		return "due"
	}
	return "valid"
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
	d := MinBackoff
	for i := 1; i < attempts && d < MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, MaxBackoff)
	if jitter != nil {
		d += jitter(d / 5)
	}
	d = max(d, retryAfter)
	return now.Add(d)
}
