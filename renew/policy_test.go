package renew

import (
	"slices"
	"testing"
	"time"

	"github.com/certctl/certctl/store"
)

func certWith(name string, nb time.Time, life time.Duration) *store.Certificate {
	c := &store.Certificate{Name: name}
	c.AddVersion(store.Version{Seq: 1, Serial: "0a" + name, NotBefore: nb, NotAfter: nb.Add(life)})
	return c
}

func TestPolicy_Next(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	noJitter := Policy{JitterFraction: -1}
	day := 24 * time.Hour
	tests := []struct {
		name   string
		c      *store.Certificate
		now    time.Time
		want   time.Time
		reason string
	}{
		{"none", &store.Certificate{Name: "x"}, t0, t0, ReasonNoCertificate},
		{"90 days: a third left", certWith("a", t0, 90*day), t0, t0.Add(60 * day), ReasonThird},
		{"6 days: half left", certWith("b", t0, 6*day), t0, t0.Add(3 * day), ReasonHalf},
		{"10 minutes: half left", certWith("c", t0, 10*time.Minute), t0, t0.Add(5 * time.Minute), ReasonHalf},
		{"exactly 10 days: a third", certWith("d", t0, 10*day), t0, t0.Add(10 * day).Add(-10 * day / 3), ReasonThird},
		{"expired", certWith("e", t0, day), t0.Add(2 * day), t0.Add(2 * day), ReasonExpired},
	}
	for _, tt := range tests {
		d := noJitter.Decide(tt.c, tt.now)
		if !d.At.Equal(tt.want) || d.Reason != tt.reason {
			t.Errorf("%s: Next = %v %q, want %v %q", tt.name, d.At, d.Reason, tt.want, tt.reason)
		}
	}
}

func TestPolicy_Next_ARI(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	c := certWith("a", t0, 90*24*time.Hour)
	c.ARI = store.ARIState{WindowStart: t0.Add(50 * 24 * time.Hour), WindowEnd: t0.Add(52 * 24 * time.Hour), Chosen: t0.Add(51 * 24 * time.Hour)}
	d := Policy{}.Decide(c, t0)
	if !d.At.Equal(c.ARI.Chosen) || d.Reason[:len(ReasonARI)] != ReasonARI {
		t.Fatalf("Next = %+v, want the chosen ARI time", d)
	}
	// A chosen time in the last tenth of the lifetime is moved to its start.
	c.ARI.Chosen = t0.Add(89 * 24 * time.Hour)
	if d := (Policy{}).Decide(c, t0); !d.At.Equal(t0.Add(81 * 24 * time.Hour)) {
		t.Fatalf("Next = %v, want clamp to the last tenth", d.At)
	}
	// A revoked certificate is due now whatever the window.
	c.Versions[0].Revoked = true
	if d := (Policy{}).Decide(c, t0); !d.At.Equal(t0) || d.Reason != ReasonRevoked {
		t.Fatalf("revoked: Next = %+v", d)
	}
}

func TestPolicy_Next_JitterBoundsAndSpread(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	life := 90 * 24 * time.Hour
	base := t0.Add(life - life/3)
	seen := map[time.Time]bool{}
	for i := 0; i < 200; i++ {
		c := certWith(string(rune('a'+i%26))+string(rune('a'+i/26)), t0, life)
		d := Policy{}.Decide(c, t0)
		if d.At.After(base) || d.At.Before(base.Add(-life/50)) {
			t.Fatalf("jitter out of bounds: %v not in [%v, %v]", d.At, base.Add(-life/50), base)
		}
		if again := (Policy{}).Decide(c, t0.Add(time.Hour)); !again.At.Equal(d.At) {
			t.Fatalf("jitter not deterministic: %v then %v", d.At, again.At)
		}
		seen[d.At] = true
	}
	if len(seen) < 190 {
		t.Fatalf("only %d distinct renewal times for 200 certificates", len(seen))
	}
}

func TestStatus(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	c := certWith("a", t0, 90*24*time.Hour)
	p := Policy{JitterFraction: -1}
	if s := StatusOf(c, p.Decide(c, t0), t0); s != "valid" {
		t.Errorf("fresh: %s", s)
	}
	if s := StatusOf(c, p.Decide(c, t0.Add(61*24*time.Hour)), t0.Add(61*24*time.Hour)); s != "due" {
		t.Errorf("after 61 days: %s", s)
	}
	if s := StatusOf(c, p.Decide(c, t0.Add(91*24*time.Hour)), t0.Add(91*24*time.Hour)); s != "expired" {
		t.Errorf("after 91 days: %s", s)
	}
	c.Renewal.Attempts, c.Renewal.LastError = 2, "boom"
	if s := StatusOf(c, p.Decide(c, t0), t0); s != "failing" {
		t.Errorf("with errors: %s", s)
	}
}

func TestRetryAt(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	prev := time.Duration(0)
	for n := 1; n <= 12; n++ {
		d := RetryAt(n, t0, 0, nil).Sub(t0)
		if d < prev || d > MaxBackoff {
			t.Fatalf("attempt %d: %v after %v", n, d, prev)
		}
		prev = d
	}
	if RetryAt(1, t0, 0, nil).Sub(t0) != MinBackoff || prev != MaxBackoff {
		t.Fatalf("bounds wrong: first %v last %v", RetryAt(1, t0, 0, nil).Sub(t0), prev)
	}
	if got := RetryAt(1, t0, 2*time.Hour, nil).Sub(t0); got != 2*time.Hour {
		t.Fatalf("Retry-After not honoured: %v", got)
	}
	j := RetryAt(3, t0, 0, func(d time.Duration) time.Duration { return d - 1 }).Sub(t0)
	if j < 4*time.Minute || j >= 4*time.Minute+4*time.Minute/5 {
		t.Fatalf("jitter bound: %v", j)
	}
}

// A policy's own backoff bounds replace the package's.
func TestPolicy_RetryAtBounds(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	p := Policy{MinBackoff: time.Second, MaxBackoff: 8 * time.Second}
	var got []time.Duration
	for n := 1; n <= 6; n++ {
		got = append(got, p.RetryAt(n, t0, 0, nil).Sub(t0))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second}
	if !slices.Equal(got, want) {
		t.Fatalf("backoff %v, want %v", got, want)
	}
	if d := p.RetryAt(1, t0, 30*time.Second, nil).Sub(t0); d != 30*time.Second {
		t.Fatalf("Retry-After not honoured: %v", d)
	}
}
