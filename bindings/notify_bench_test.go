package bindings

import (
	"context"
	"runtime"
	"testing"
)

// BenchmarkNotifyToSwap measures one change pushed by a Notifier source, from
// the notification to the new certificate being served by a watching
// binder. Its baseline is BenchmarkNotifyToSwap/direct-sync: the same change
// applied by calling Sync on the caller's goroutine; the difference is the
// cost of the wake-up.
func BenchmarkNotifyToSwap(b *testing.B) {
	l1, l2 := leaf(b, "a.example"), leaf(b, "a.example")
	pems := [2][2][]byte{{l1.FullchainPEM(), l1.KeyPEM(b)}, {l2.FullchainPEM(), l2.KeyPEM(b)}}
	serials := [2]string{l1.Serial(), l2.Serial()}

	b.Run("direct-sync", func(b *testing.B) {
		src := newNotifyingSource()
		bd := New(nil)
		ctx := context.Background()
		for i := 0; b.Loop(); i++ {
			src.put("a", pems[i%2][0], pems[i%2][1])
			if err := bd.Sync(ctx, src); err != nil {
				b.Fatal(err)
			}
			if bd.Serial("a.example") != serials[i%2] {
				b.Fatal("not swapped")
			}
		}
	})
	b.Run("notify", func(b *testing.B) {
		src := newNotifyingSource()
		src.put("a", pems[1][0], pems[1][1])
		bd := New(nil)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { _ = bd.Watch(ctx, src, 0) }()
		for bd.Serial("a.example") != serials[1] {
			runtime.Gosched()
		}
		for i := 0; b.Loop(); i++ {
			src.put("a", pems[i%2][0], pems[i%2][1])
			src.notify()
			for bd.Serial("a.example") != serials[i%2] {
				runtime.Gosched()
			}
		}
	})
}
