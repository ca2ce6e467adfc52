package renew_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// Renewal spread (issue 12): 10,000 certificates issued within one hour do
// not renew within one hour. The busiest 10-minute window holds at most
// twice the average over the span in which they renew, by the lifetime rule
// with its per-certificate jitter and by a CA's ARI windows.
func TestPolicy_RenewalSpread(t *testing.T) {
	const n = 10000
	issued := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, mode := range []string{"lifetime", "ari"} {
		t.Run(mode, func(t *testing.T) {
			var p renew.Policy
			at := make([]time.Time, n)
			for i := range n {
				nb := issued.Add(time.Duration(rng.Int64N(int64(time.Hour))))
				c := &store.Certificate{Name: fmt.Sprintf("c%05d.example", i), Active: 1, Versions: []store.Version{{
					Seq: 1, Serial: fmt.Sprintf("%016x", rng.Uint64()), NotBefore: nb, NotAfter: nb.Add(90 * 24 * time.Hour)}}}
				if mode == "ari" {
					// The CA suggests a two-day window 30 days before expiry
					// and certctl picks a point in it, as it does when it
					// fetches renewal information.
					start := nb.Add(58 * 24 * time.Hour)
					c.ARI = store.ARIState{WindowStart: start, WindowEnd: start.Add(48 * time.Hour),
						Chosen: start.Add(time.Duration(rng.Int64N(int64(48 * time.Hour)))), Fetched: nb, RetryAfter: nb.Add(6 * time.Hour)}
				}
				at[i] = p.Decide(c, issued).At
			}
			first, last := at[0], at[0]
			counts := map[int64]int{}
			for _, a := range at {
				first, last = minTime(first, a), maxTime(last, a)
			}
			for _, a := range at {
				counts[int64(a.Sub(first)/(10*time.Minute))]++
			}
			busiest := 0
			for _, c := range counts {
				busiest = max(busiest, c)
			}
			span := last.Sub(first)
			windows := float64(span) / float64(10*time.Minute)
			avg := float64(n) / windows
			t.Logf("%s: renewals spread over %v; busiest 10-minute window %d, average %.1f (%.2fx)", mode, span.Round(time.Minute), busiest, avg, float64(busiest)/avg)
			if span < time.Hour {
				t.Fatalf("renewals within %v of each other", span)
			}
			if float64(busiest) > 2*avg {
				t.Fatalf("busiest window %d is more than twice the average %.1f", busiest, avg)
			}
		})
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
