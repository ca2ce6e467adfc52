package renew_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// With fake time: a certificate that cannot be renewed (no account, so no
// network either) is retried by a running manager with growing gaps that
// start at a minute, whatever the hourly schedule, and never hot-loops.
func TestManager_Run_BackoffTimingSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, err := store.Open(filepath.Join(t.TempDir(), "certctl.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c := &store.Certificate{Name: "x.example", Domains: []string{"x.example"}, KeyType: "ec256",
			Directory: "https://127.0.0.1:1/dir", Challenge: store.Challenge{Type: "http-01"}}
		c.Renewal.Next = time.Now()
		if err := db.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
		m := &renew.Manager{Service: &renew.Service{Store: db}, Schedule: "@every 1h"}
		events, unsubscribe := m.Subscribe(64)
		defer unsubscribe()
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()

		start := time.Now()
		var attempts []time.Duration
		scans := 0
		deadline := time.After(40 * time.Minute)
	loop:
		for {
			select {
			case ev := <-events:
				switch ev.Type {
				case renew.EventFailed:
					if !errors.Is(ev.Result.Err, renew.ErrNoAccount) {
						t.Fatalf("unexpected failure: %v", ev.Result.Err)
					}
					attempts = append(attempts, time.Since(start))
				case renew.EventScan:
					scans++
				}
			case <-deadline:
				break loop
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		// Expected near 0, 1, 3, 7, 15, 31 minutes (each gap up to 20% longer).
		if len(attempts) < 4 || len(attempts) > 6 {
			t.Fatalf("%d attempts in 40 minutes: %v", len(attempts), attempts)
		}
		if attempts[0] != 0 {
			t.Fatalf("first attempt at %v, want at once", attempts[0])
		}
		prev := time.Duration(0)
		for i := 1; i < len(attempts); i++ {
			gap := attempts[i] - attempts[i-1]
			want := renew.MinBackoff << (i - 1)
			if gap < want || gap > want*6/5+time.Second || gap <= prev {
				t.Fatalf("gap %d = %v, want %v..%v and growing (attempts %v)", i, gap, want, want*6/5, attempts)
			}
			prev = gap
		}
		if scans > len(attempts)+2 {
			t.Fatalf("%d scans for %d attempts: the manager woke without cause", scans, len(attempts))
		}
	})
}
