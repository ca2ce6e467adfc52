package renew_test

import (
	"context"
	"testing"
	"time"

	"github.com/certctl/certctl/renew"
)

// A Manager's scan skips a due certificate whose lock another process
// holds (a fleet node renewing it) instead of waiting for the lock, and
// renews it at a later scan once the lock is free.
func TestManager_Run_SkipsCertificateLockedElsewhere(t *testing.T) {
	e := newUnitEnv(t)
	e.svc.Now = nil             // the manager's timers run on the real clock
	e.ca.validity = time.Second // due at once: less than half of its life is left
	e.issue(t, "held.example")
	e.issue(t, "free.example")
	e.ca.validity = 90 * 24 * time.Hour
	for _, name := range []string{"held.example", "free.example"} {
		c := e.get(t, name)
		c.Renewal.Next = time.Now().Add(-time.Minute)
		if err := e.db.Put(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	unlock, ok, err := e.db.TryLock(context.Background(), "held.example")
	if err != nil || !ok {
		t.Fatalf("TryLock: %v %v", ok, err)
	}
	ctx, events, stop := runManager(t, e.svc, 64, 30*time.Second)
	held := false
	for !held {
		select {
		case ev := <-events:
			switch {
			case ev.Name == "held.example" && ev.Result.Action == renew.ActionHeld:
				held = true
			case ev.Type == renew.EventScan:
				t.Fatal("a scan ended without reporting held.example as held")
			case ev.Type == renew.EventRenewed && ev.Name == "held.example":
				t.Fatal("renewed while another process held the lock")
			}
		case <-ctx.Done():
			t.Fatal("no event for held.example")
		}
	}
	unlock()
	for {
		select {
		case ev := <-events:
			if ev.Type == renew.EventRenewed && ev.Name == "held.example" {
				if err := stop(); err != nil {
					t.Fatal(err)
				}
				if n := e.ca.orderCount(); n != 4 { // two issued, two renewed
					t.Fatalf("%d orders, want 4", n)
				}
				return
			}
		case <-ctx.Done():
			t.Fatal("held.example not renewed after its lock was freed")
		}
	}
}
