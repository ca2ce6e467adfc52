package acme

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// cannedCA answers each request with the next of its answers (status and
// Retry-After), counting the requests that reach it.
type cannedCA struct {
	answers []struct {
		status int
		retry  string
	}
	sent int
}

func (c *cannedCA) RoundTrip(req *http.Request) (*http.Response, error) {
	a := c.answers[c.sent]
	c.sent++
	h := http.Header{"Content-Type": {"application/problem+json"}}
	if a.retry != "" {
		h.Set("Retry-After", a.retry)
	}
	return &http.Response{StatusCode: a.status, Header: h, Body: io.NopCloser(strings.NewReader("{}")), Request: req}, nil
}

// After a 503 or 429 with a Retry-After, the order's next request waits
// until it has passed before it is sent; an answer without one clears it;
// a Retry-After longer than maxRetryAfterWait fails the next request at
// once, unsent, with a BusyError that classify keeps and RetryAfter reads.
func TestRetryGate_HonoursRetryAfter(t *testing.T) {
	ca := &cannedCA{answers: []struct {
		status int
		retry  string
	}{{503, "2"}, {200, ""}, {200, ""}, {429, "3"}, {500, ""}, {503, "120"}}}
	g := newRetryGate(context.Background(), ca)
	var waits []time.Duration
	g.wait = func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}
	hc := &http.Client{Transport: g}
	get := func() error {
		resp, err := hc.Get("https://ca.test/order/1")
		if err == nil {
			_ = resp.Body.Close()
		}
		return err
	}
	for i := 0; i < 6; i++ { // 503 2s, 200 (after waiting), 200, 429 3s, 500 (after waiting), 503 120s
		if err := get(); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if i == 2 && g.retryAfter() != 0 {
			t.Fatalf("a 200 left a Retry-After of %s", g.retryAfter())
		}
	}
	if len(waits) != 2 || waits[0] <= time.Second || waits[0] > 2*time.Second || waits[1] <= 2*time.Second || waits[1] > 3*time.Second {
		t.Fatalf("waits %v, want about [2s 3s]", waits)
	}
	if g.retryAfter() != 120*time.Second {
		t.Fatalf("retryAfter %s after a 503 with Retry-After 120", g.retryAfter())
	}
	err := get()
	if ca.sent != 6 {
		t.Fatalf("a request was sent %s before the CA's Retry-After ended", time.Until(g.until))
	}
	var be *BusyError
	if !errors.As(err, &be) || be.RetryAfter != 120*time.Second {
		t.Fatalf("unsent request: %v", err)
	}
	if c := classify("https://ca.test/dir", nil, &url.Error{Op: "Post", URL: "https://ca.test/order/1", Err: err}); RetryAfter(c) != 120*time.Second {
		t.Fatalf("classify made %v (%T) of the unsent request", c, c)
	}
	if d := RetryAfter(&RateLimitedError{RetryAfter: time.Minute}); d != time.Minute {
		t.Fatalf("RetryAfter of a rate limit: %s", d)
	}
	if d := RetryAfter(errors.New("x")); d != 0 {
		t.Fatalf("RetryAfter of a plain error: %s", d)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"-5", 0}, {"soon", 0}, {"7", 7 * time.Second},
		{"999999999999", 24 * time.Hour},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	} {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
