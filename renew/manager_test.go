package renew_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/certctl/certctl/bindings"
	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// runManager runs a Manager over svc with an hourly schedule (so only its
// wake-ups at due times renew) and returns its events. ctx ends after limit,
// a liveness bound; stop ends the run and returns Run's error.
func runManager(t *testing.T, svc *renew.Service, buf int, limit time.Duration) (ctx context.Context, events <-chan renew.Event, stop func() error) {
	t.Helper()
	m := &renew.Manager{Service: svc, Schedule: "@every 1h", MinInterval: 50 * time.Millisecond}
	events, unsubscribe := m.Subscribe(buf)
	t.Cleanup(unsubscribe)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	return ctx, events, func() error { cancel(); return <-done }
}

// A manager left alone renews short-lived certificates again and again
// before they expire, keeping the last five versions.
func TestManager_Run_RenewsShortLivedRepeatedly(t *testing.T) {
	e := newEnv(t, acmetest.Options{Validity: 6 * time.Second})
	names := []string{"m1.example", "m2.example", "m3.example"}
	for _, n := range names {
		e.mustIssue(t, n, n)
	}
	ctx, events, stop := runManager(t, e.svc, 256, 60*time.Second)

	renewals := map[string]int{}
	var mu sync.Mutex
	for {
		ok := true
		for _, n := range names {
			ok = ok && renewals[n] >= 6
		}
		if ok {
			break
		}
		select {
		case ev := <-events:
			switch ev.Type {
			case renew.EventFailed:
				t.Fatalf("%s: renewal failed: %v", ev.Name, ev.Result.Err)
			case renew.EventRenewed:
				mu.Lock()
				renewals[ev.Name]++
				mu.Unlock()
			}
		case <-ctx.Done():
			t.Fatalf("timed out; renewals: %v", renewals)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, n := range names {
		c, err := e.db.Get(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Versions) != store.MaxVersions || c.Active != c.Versions[len(c.Versions)-1].Seq || c.Active < 7 {
			t.Fatalf("%s: %d versions kept, active %d", n, len(c.Versions), c.Active)
		}
		// Each version was issued before its predecessor expired.
		for i := 1; i < len(c.Versions); i++ {
			if !c.Versions[i].Issued.Before(c.Versions[i-1].NotAfter) {
				t.Fatalf("%s: version %d issued at %v, after version %d expired at %v", n,
					c.Versions[i].Seq, c.Versions[i].Issued, c.Versions[i-1].Seq, c.Versions[i-1].NotAfter)
			}
		}
		e.verifyActive(t, n)
	}
}

func TestParseSchedule(t *testing.T) {
	for _, ok := range []string{"", "@every 5m", "*/10 * * * *", "@hourly"} {
		if _, err := renew.ParseSchedule(ok); err != nil {
			t.Errorf("ParseSchedule(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"every 5 minutes", "* * *", "@every banana", "61 * * * *"} {
		if _, err := renew.ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) accepted", bad)
		}
	}
}

// The in-process callback swaps a renewed certificate into a binder before
// the renewal is reported: when the manager's event arrives, a handshake
// already gets the new serial.
func TestManager_OnRenewedSwapsBeforeEvent(t *testing.T) {
	e := newEnv(t, acmetest.Options{Validity: 6 * time.Second})
	first := e.mustIssue(t, "swap.example", "swap.example")
	roots, _ := e.srv.Roots()
	binder := bindings.New(&bindings.Options{Roots: roots})
	e.svc.OnRenewed = func(_ context.Context, c *store.Certificate) {
		v := c.ActiveVersion()
		if err := binder.Set(c.Name, v.Fullchain(), v.KeyPEM, c.Domains); err != nil {
			t.Errorf("binder refused a renewed certificate: %v", err)
		}
	}
	c, _ := e.db.Get(context.Background(), "swap.example")
	v := c.ActiveVersion()
	if err := binder.Set(c.Name, v.Fullchain(), v.KeyPEM, c.Domains); err != nil {
		t.Fatal(err)
	}
	ctx, events, stop := runManager(t, e.svc, 16, 30*time.Second)
	for renewed := 0; renewed < 2; {
		select {
		case ev := <-events:
			if ev.Type == renew.EventFailed {
				t.Fatalf("renewal failed: %v", ev.Result.Err)
			}
			if ev.Type != renew.EventRenewed {
				continue
			}
			renewed++
			if got := binder.Serial("swap.example"); got != ev.Result.Serial || got == first.Serial {
				t.Fatalf("event for serial %s, binder serves %s", ev.Result.Serial, got)
			}
		case <-ctx.Done():
			t.Fatal("no renewal")
		}
	}
	_ = stop()
}
