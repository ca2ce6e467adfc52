package acme

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// maxRetryAfterWait bounds how long an order's next request waits in line
// for a CA's Retry-After. A longer wait fails the request at once, without
// sending it, with a [*BusyError]: the order ends, and the renewal is
// rescheduled after the Retry-After.
const maxRetryAfterWait = 30 * time.Second

// BusyError reports a failure after the CA answered 429 or 503 with a
// Retry-After: it asked to be left alone for RetryAfter. Err is the
// failure itself (it may also match a [*RateLimitedError]).
type BusyError struct {
	RetryAfter time.Duration
	Err        error
}

// Error implements error.
func (e *BusyError) Error() string {
	return fmt.Sprintf("%v (the CA asked to retry after %s)", e.Err, e.RetryAfter.Round(time.Second))
}

// Unwrap returns the failure.
func (e *BusyError) Unwrap() error { return e.Err }

// RetryAfter returns how long the CA asked to wait before the request that
// failed with err may be retried: the longest Retry-After of a
// [*RateLimitedError] or [*BusyError] in err's chain, zero when the CA
// gave none.
func RetryAfter(err error) time.Duration {
	var d time.Duration
	var rl *RateLimitedError
	if errors.As(err, &rl) {
		d = rl.RetryAfter
	}
	var be *BusyError
	if errors.As(err, &be) {
		d = max(d, be.RetryAfter)
	}
	return d
}

// retryGate is the transport of one order that honours the CA's
// Retry-After: after a 429 or 503 answer that carries one, the order's next
// request waits until it has passed. lego itself reads Retry-After only
// from a challenge's answer (to start its authorization polls), and its
// poll of the order after finalizing retries a failed request every
// interval whatever the CA said.
type retryGate struct {
	ctx  context.Context
	next http.RoundTripper
	// wait waits d or until ctx ends; tests replace it.
	wait func(ctx context.Context, d time.Duration) error

	mu    sync.Mutex
	until time.Time     // no request before
	last  time.Duration // Retry-After of the last answer, if it was 429 or 503
}

func newRetryGate(ctx context.Context, next http.RoundTripper) *retryGate {
	return &retryGate{ctx: ctx, next: next, wait: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RoundTrip implements http.RoundTripper.
func (g *retryGate) RoundTrip(r *http.Request) (*http.Response, error) {
	g.mu.Lock()
	until, last := g.until, g.last
	g.mu.Unlock()
	d := time.Until(until)
	if d > maxRetryAfterWait {
		return nil, &BusyError{RetryAfter: last, Err: fmt.Errorf("%s %s: not sent: the CA asked to wait", r.Method, r.URL.Redacted())}
	}
	if d > 0 {
		if err := g.wait(g.ctx, d); err != nil {
			return nil, err
		}
		g.mu.Lock()
		if g.until.Equal(until) { // waited out
			g.until = time.Time{}
		}
		g.mu.Unlock()
	}
	resp, err := g.next.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	var ra time.Duration
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		ra = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	g.mu.Lock()
	g.last = ra
	if ra > 0 {
		g.until = time.Now().Add(ra)
	}
	g.mu.Unlock()
	return resp, nil
}

// retryAfter returns the Retry-After of the order's last answer if it was a
// 429 or 503 that carried one, else zero.
func (g *retryGate) retryAfter() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.last
}

// parseRetryAfter reads a Retry-After header (seconds, or an HTTP date
// relative to now); zero when absent, malformed or past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
