package store

import (
	"testing"
	"time"
)

func TestSortableTime_Ordering(t *testing.T) {
	times := []time.Time{
		{}, // year 1: clamped to the minimum
		time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(-1, 0),
		time.Unix(0, 0),
		time.Unix(0, 1),
		t0,
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), // beyond 2262: clamped to the maximum
	}
	for i := 1; i < len(times); i++ {
		a, b := sortableTime(times[i-1]), sortableTime(times[i])
		if a >= b {
			t.Errorf("sortableTime(%v)=%d not below sortableTime(%v)=%d", times[i-1], a, times[i], b)
		}
	}
}
