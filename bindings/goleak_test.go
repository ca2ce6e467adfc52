package bindings

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// A Watch, polling or notified, leaves no goroutine behind once its
// context is done and it returned, after serving changes and a panic of
// its source.
func TestBinder_Watch_NoGoroutineLeftAfterStop(t *testing.T) {
	a1, a2 := leaf(t, "a.example"), leaf(t, "a.example")
	for _, notified := range []bool{false, true} {
		ignore := goleak.IgnoreCurrent()
		fake := newFakeSource()
		fake.put("a", a1.FullchainPEM(), a1.KeyPEM(t))
		var src Source = &panickySource{fakeSource: fake}
		var ns *notifyingSource
		if notified {
			ns = &notifyingSource{fakeSource: fake, ch: make(chan struct{}, 1)}
			src = ns
		}
		b := New(&Options{OnError: func(string, error) {}})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- b.Watch(ctx, src, time.Millisecond) }()
		fake.put("a", a2.FullchainPEM(), a2.KeyPEM(t))
		if ns != nil {
			ns.notify()
		}
		timeout := time.After(30 * time.Second)
		for b.Serial("a.example") != a2.Serial() {
			select {
			case <-timeout:
				t.Fatalf("notified %v: change not picked up", notified)
			case <-time.After(time.Millisecond): // the binder has no swap event: look again
			}
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Watch returned %v", err)
		}
		goleak.VerifyNone(t, ignore)
	}
}
