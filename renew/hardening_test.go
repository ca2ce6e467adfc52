package renew_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// panickyCA is a fakeCA whose orders for one name panic.
type panickyCA struct {
	*fakeCA
	name string
}

func (p *panickyCA) Issuer(context.Context, string, string) (renew.Issuer, error) { return p, nil }

func (p *panickyCA) Obtain(ctx context.Context, req acme.Request) (*acme.Certificate, error) {
	if req.Domains[0] == p.name {
		panic(fmt.Sprintf("issuer bug while ordering %s", p.name))
	}
	return p.fakeCA.Obtain(ctx, req)
}

// A renewal worker that panics (here in the Issuer) does not take the
// daemon down: its certificate's attempt is reported and recorded as
// failed with the panic value, the stack is logged at error level, the
// other certificate renews, and the manager goes on scanning.
func TestManager_Run_RenewalPanic_Recovered(t *testing.T) {
	e := newUnitEnv(t)
	e.issue(t, "ok.example")
	e.issue(t, "boom.example")
	var logs syncBuffer
	// A new service: one keeps the Issuers it first used.
	e.svc = &renew.Service{Store: e.db, Issuers: &panickyCA{fakeCA: e.ca, name: "boom.example"},
		Now: func() time.Time { return e.now }, Policy: renew.Policy{JitterFraction: -1},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelError}))}
	e.now = e.now.Add(61 * 24 * time.Hour) // both due

	m := &renew.Manager{Service: e.svc, Schedule: "@every 1h", MinInterval: time.Millisecond}
	events, unsubscribe := m.Subscribe(64)
	defer unsubscribe()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	var failedErr error
	renewed, scans := false, 0
	for scans < 2 {
		select {
		case ev := <-events:
			switch ev.Type {
			case renew.EventFailed:
				if ev.Name != "boom.example" {
					t.Fatalf("%s failed: %v", ev.Name, ev.Result.Err)
				}
				failedErr = ev.Result.Err
			case renew.EventRenewed:
				renewed = renewed || ev.Name == "ok.example"
			case renew.EventScan:
				scans++
				if scans == 1 {
					m.ScanNow() // the manager still runs
				}
			}
		case err := <-done:
			t.Fatalf("Run returned: %v", err)
		case <-ctx.Done():
			t.Fatalf("timed out: %d scans, renewed %v, failed %v", scans, renewed, failedErr)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !renewed || !errors.Is(failedErr, renew.ErrPanic) ||
		!strings.Contains(failedErr.Error(), "issuer bug while ordering boom.example") {
		t.Fatalf("renewed ok.example %v; boom.example failed with %v", renewed, failedErr)
	}
	c := e.get(t, "boom.example")
	if c.Renewal.Attempts != 1 || !strings.Contains(c.Renewal.LastError, "issuer bug") || !c.Renewal.Next.After(e.now) {
		t.Fatalf("panicked attempt recorded as %+v", c.Renewal)
	}
	l := logs.String()
	if !strings.Contains(l, "level=ERROR msg=\"renewal panicked\" name=boom.example") || !strings.Contains(l, "panickyCA") {
		t.Fatalf("no error log with the panic and its stack:\n%s", l)
	}
	// The lock was released: the certificate can be worked on again.
	unlock, err := e.db.Lock(context.Background(), "boom.example")
	if err != nil {
		t.Fatal(err)
	}
	unlock()
}

// A renewal whose lock another certctl holds waits at most LockTimeout and
// then fails with one clear error, recording nothing; once the lock is
// free it renews. (Lock used to wait for ever.)
func TestService_Renew_LockHeld_TimesOut(t *testing.T) {
	e := newUnitEnv(t)
	first := e.issue(t, "held.example")
	e.svc.LockTimeout = 50 * time.Millisecond
	unlock, err := e.db.Lock(context.Background(), "held.example")
	if err != nil {
		t.Fatal(err)
	}
	before := e.get(t, "held.example")
	got := make(chan renew.Result, 1)
	go func() { got <- e.svc.Renew(context.Background(), "held.example", true) }()
	var r renew.Result
	select {
	case r = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("Renew still waiting for the held lock after 30s")
	}
	if r.Action != renew.ActionFailed || !errors.Is(r.Err, renew.ErrLockHeld) ||
		r.Err.Error() != "another certctl holds the lock of held.example (waited 50ms)" {
		t.Fatalf("with the lock held: %+v", r)
	}
	if after := e.get(t, "held.example"); after.Revision != before.Revision || e.ca.orderCount() != 1 {
		t.Fatalf("something was written or ordered under a held lock (revision %d -> %d, %d orders)",
			before.Revision, after.Revision, e.ca.orderCount())
	}
	// Configure, Deploy and Remove wait the same way.
	if err := e.svc.Deploy(context.Background(), "held.example"); !errors.Is(err, renew.ErrLockHeld) {
		t.Fatalf("Deploy: %v", err)
	}
	unlock()
	if r := e.svc.Renew(context.Background(), "held.example", true); r.Action != renew.ActionRenewed || r.PrevSerial != first.Serial {
		t.Fatalf("after release: %+v", r)
	}
}

// With fake time: a manager never waits for a lock another certctl holds.
// It renews the other due certificate, finishes its scan, skips the held
// one as busy and looks again only after BusyRetry (no hot loop); once the
// lock is released it renews it.
func TestManager_Run_LockHeld_SkippedAsBusySynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, err := store.Open(filepath.Join(t.TempDir(), "certctl.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ca := newFakeCA(t, time.Now)
		svc := &renew.Service{Store: db, Issuers: ca, Policy: renew.Policy{JitterFraction: -1}}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		for _, n := range []string{"free.example", "held.example"} {
			r := svc.Issue(ctx, &store.Certificate{Name: n, Domains: []string{n}, KeyType: "ec256",
				Directory: "https://ca.invalid/dir"}, false)
			if r.Action != renew.ActionIssued {
				t.Fatalf("issue %s: %+v", n, r)
			}
		}
		time.Sleep(61 * 24 * time.Hour) // both due
		unlock, err := db.Lock(ctx, "held.example")
		if err != nil {
			t.Fatal(err)
		}

		m := &renew.Manager{Service: svc, Schedule: "@every 1h"}
		events, unsubscribe := m.Subscribe(256)
		defer unsubscribe()
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()

		start := time.Now()
		var busyAt []time.Duration
		renewed := map[string]time.Duration{}
		released := false
		deadline := time.After(10 * time.Minute)
	loop:
		for {
			select {
			case ev := <-events:
				switch ev.Type {
				case renew.EventFailed:
					t.Fatalf("%s failed: %v", ev.Name, ev.Result.Err)
				case renew.EventSkipped:
					if ev.Result.Action == renew.ActionBusy {
						if ev.Name != "held.example" || !errors.Is(ev.Result.Err, renew.ErrLockHeld) {
							t.Fatalf("busy %s: %v", ev.Name, ev.Result.Err)
						}
						busyAt = append(busyAt, time.Since(start))
					}
				case renew.EventRenewed:
					renewed[ev.Name] = time.Since(start)
					if ev.Name == "held.example" {
						break loop
					}
				}
			case <-deadline:
				if released {
					t.Fatalf("held.example not renewed within %v of its release", renew.BusyRetry)
				}
				// Five minutes held: release it and give the manager one retry.
				released = true
				unlock()
				deadline = time.After(renew.BusyRetry + time.Second)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if _, ok := renewed["free.example"]; !ok || renewed["free.example"] != 0 {
			t.Fatalf("free.example renewed at %v, want at once (the held lock blocked the scan)", renewed)
		}
		if len(busyAt) < 2 || busyAt[0] != 0 {
			t.Fatalf("busy skips at %v", busyAt)
		}
		for i := 1; i < len(busyAt); i++ {
			if gap := busyAt[i] - busyAt[i-1]; gap < renew.BusyRetry {
				t.Fatalf("looked again after %v (skips at %v), want at least %v", gap, busyAt, renew.BusyRetry)
			}
		}
		if limit := int(10*time.Minute/renew.BusyRetry) + 1; len(busyAt) > limit {
			t.Fatalf("%d busy skips in 10 minutes, want at most %d", len(busyAt), limit)
		}
	})
}
