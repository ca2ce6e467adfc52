package bindings

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// notifyingSource is a fakeSource that pushes: the test sends on ch, or
// closes it to say notifications stopped.
type notifyingSource struct {
	*fakeSource
	ch      chan struct{}
	changes int // Changes calls
}

func newNotifyingSource() *notifyingSource {
	return &notifyingSource{fakeSource: newFakeSource(), ch: make(chan struct{}, 1)}
}

func (n *notifyingSource) Changes(ctx context.Context) <-chan struct{} {
	n.mu.Lock()
	n.changes++
	n.mu.Unlock()
	return n.ch
}

func (n *notifyingSource) notify() {
	select {
	case n.ch <- struct{}{}:
	default:
	}
}

var _ Notifier = (*notifyingSource)(nil)

func TestBinder_Watch_NotifierSwapsWithoutPolling(t *testing.T) {
	a1, a2, c1 := leaf(t, "a.example"), leaf(t, "a.example"), leaf(t, "c.example")
	k1, k2, kc := a1.KeyPEM(t), a2.KeyPEM(t), c1.KeyPEM(t)
	realNow := time.Now()
	synctest.Test(t, func(t *testing.T) {
		src := newNotifyingSource()
		src.put("a", a1.FullchainPEM(), k1)
		b := New(&Options{Now: func() time.Time { return realNow }})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		// An interval of a day: nothing but a notification can sync.
		go func() { done <- b.Watch(ctx, src, 24*time.Hour) }()
		synctest.Wait()
		if got := b.Serial("a.example"); got != a1.Serial() {
			t.Fatalf("first pass: %q, want %s", got, a1.Serial())
		}
		start := time.Now()

		src.put("a", a2.FullchainPEM(), k2)
		synctest.Wait()
		if got := b.Serial("a.example"); got != a1.Serial() {
			t.Fatalf("before the notification: %q, want still %s", got, a1.Serial())
		}
		src.notify()
		synctest.Wait()
		if got := b.Serial("a.example"); got != a2.Serial() {
			t.Fatalf("after the notification: %q, want %s", got, a2.Serial())
		}
		if gen, _, _ := src.counts(); gen != 2 || src.changes != 1 {
			t.Fatalf("Generation called %d times, Changes %d; want 2 and 1", gen, src.changes)
		}
		if el := time.Since(start); el != 0 {
			t.Fatalf("the fake clock moved by %v: a poll ran", el)
		}

		// A "resync" notification after several silent changes (the
		// source lost track of them, e.g. etcd compacted past its
		// revision): one pass applies all of them.
		src.put("c", c1.FullchainPEM(), kc)
		src.del("a")
		src.notify()
		synctest.Wait()
		if b.Serial("a.example") != "" || b.Serial("c.example") != c1.Serial() {
			t.Fatalf("after resync: a=%q c=%q; want a gone and c %s", b.Serial("a.example"), b.Serial("c.example"), c1.Serial())
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Watch returned %v, want context.Canceled", err)
		}
	})
}

func TestBinder_Watch_NotifierSafetyPoll(t *testing.T) {
	a1, a2 := leaf(t, "a.example"), leaf(t, "a.example")
	k1, k2 := a1.KeyPEM(t), a2.KeyPEM(t)
	realNow := time.Now()
	synctest.Test(t, func(t *testing.T) {
		src := newNotifyingSource()
		src.put("a", a1.FullchainPEM(), k1)
		b := New(&Options{Now: func() time.Time { return realNow }})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { _ = b.Watch(ctx, src, time.Second) }()
		synctest.Wait()

		// A lost notification: the change shows after SafetyPoll, not
		// after the 1 s interval.
		src.put("a", a2.FullchainPEM(), k2)
		time.Sleep(SafetyPoll - time.Millisecond)
		synctest.Wait()
		if got := b.Serial("a.example"); got != a1.Serial() {
			t.Fatalf("before the safety poll: %q, want still %s", got, a1.Serial())
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := b.Serial("a.example"); got != a2.Serial() {
			t.Fatalf("after the safety poll: %q, want %s", got, a2.Serial())
		}
	})
}

func TestBinder_Watch_NotifierStoppedFallsBackToPolling(t *testing.T) {
	a1, a2 := leaf(t, "a.example"), leaf(t, "a.example")
	k1, k2 := a1.KeyPEM(t), a2.KeyPEM(t)
	realNow := time.Now()
	synctest.Test(t, func(t *testing.T) {
		src := newNotifyingSource()
		src.put("a", a1.FullchainPEM(), k1)
		b := New(&Options{Now: func() time.Time { return realNow }})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { _ = b.Watch(ctx, src, time.Second) }()
		synctest.Wait()
		close(src.ch) // notifications stopped for good
		synctest.Wait()

		src.put("a", a2.FullchainPEM(), k2)
		time.Sleep(time.Second)
		synctest.Wait()
		if got := b.Serial("a.example"); got != a2.Serial() {
			t.Fatalf("one interval after notifications stopped: %q, want %s", got, a2.Serial())
		}
	})
}
