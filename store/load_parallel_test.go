package store

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
)

// TestParallel_EveryItemOnceAndErrors checks parallel: every index runs
// exactly once when nothing fails, on one goroutine or several, and a
// failure is returned.
func TestParallel_EveryItemOnceAndErrors(t *testing.T) {
	for _, n := range []int{0, 1, minPerDecoder, 10 * minPerDecoder} {
		seen := make([]atomic.Int32, n)
		if err := parallel(n, func(i int) error { seen[i].Add(1); return nil }); err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		for i := range seen {
			if c := seen[i].Load(); c != 1 {
				t.Fatalf("n=%d: item %d ran %d times, want once", n, i, c)
			}
		}
	}
	boom := errors.New("boom")
	n := 10 * minPerDecoder
	err := parallel(n, func(i int) error {
		if i == n/2 {
			return fmt.Errorf("item %d: %w", i, boom)
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("parallel with a failing item: %v, want boom", err)
	}
}
