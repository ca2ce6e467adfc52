package renew_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// faultCerts is how many certificates the CA-fault drill renews: a short
// run in `make test`, 50 under `make soak` (CERTCTL_SOAK=1).
func faultCerts() int {
	if os.Getenv("CERTCTL_SOAK") != "" {
		return 50
	}
	if v, err := strconv.Atoi(os.Getenv("FAULT_N")); err == nil {
		return v
	}
	return 8
}

// The manager renews every certificate through a CA that rejects a quarter
// of its nonces, rate-limits newOrder with a Retry-After, answers 500 and
// 503, drops connections and stalls past the client's timeout. Every
// certificate is renewed in the end, no newOrder for a name comes before
// the Retry-After the CA gave for it (429 or 503), the orders per certificate stay
// bounded, and a failure never touches the active certificate.
func TestManager_CAFaults(t *testing.T) {
	n := faultCerts()
	e := newEnv(t, acmetest.Options{NonceReject: 25})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	responder := acme.NewHTTPResponder()
	if err := responder.Listen("127.0.0.1:" + strconv.Itoa(e.srv.HTTPPort())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = responder.Close() })
	e.svc.Solvers.HTTPResponder = responder
	e.svc.Workers = 4
	e.svc.Policy = renew.Policy{MinBackoff: 200 * time.Millisecond, MaxBackoff: 3 * time.Second}

	names := make([]string, n)
	first := map[string]string{}
	for i := range names {
		names[i] = "fault" + strconv.Itoa(i) + ".example"
		first[names[i]] = e.mustIssue(t, names[i], names[i]).Serial
	}
	// Everything is due now: inside an ARI window already fetched, so no
	// renewal-information request decides it.
	now := time.Now()
	for _, name := range names {
		c := mustGet(t, e.db, name)
		c.ARI = store.ARIState{WindowStart: now.Add(-time.Hour), WindowEnd: now.Add(-30 * time.Minute),
			Chosen: now.Add(-45 * time.Minute), Fetched: now, RetryAfter: now.Add(time.Hour)}
		c.Renewal.Next = now
		if err := e.db.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
	}

	e.accts.HTTPClient.Timeout = 3 * time.Second
	e.srv.SetFaults(acmetest.Faults{
		RateLimited: 0.1, RetryAfter: 2 * time.Second,
		ServerError: 0.02, Unavailable: 0.02, Drop: 0.02,
		Slow: 0.01, SlowDelay: 5 * time.Second,
		Seed: 1,
	})

	m := &renew.Manager{Service: e.svc, Schedule: "@every 1s", MinInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	events, unsub := m.Subscribe(256)
	defer unsub()
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	renewed := map[string]bool{}
	failures := 0
	deadline := time.NewTimer(4 * time.Minute)
	defer deadline.Stop()
	for len(renewed) < n {
		select {
		case ev := <-events:
			switch ev.Type {
			case renew.EventRenewed:
				renewed[ev.Name] = true
			case renew.EventFailed:
				failures++
				// The active certificate is the one issued first (or
				// an already renewed one), whole and valid.
				c := mustGet(t, e.db, ev.Name)
				if v := c.ActiveVersion(); v == nil || (!renewed[ev.Name] && v.Serial != first[ev.Name]) {
					t.Fatalf("%s: a failure changed the active version: %+v", ev.Name, v)
				}
				e.verifyActive(t, ev.Name)
			}
		case <-deadline.C:
			t.Fatalf("renewed %d of %d after 4 minutes", len(renewed), n)
		}
	}
	cancel()
	if err := <-done; err != nil && ctx.Err() == nil {
		t.Fatal(err)
	}
	reqs := e.srv.Requests()
	for _, name := range names {
		if v := e.verifyActive(t, name); v.Serial == first[name] {
			t.Fatalf("%s: not renewed", name)
		}
	}

	// Retry-After is honoured per name, and orders stay bounded.

	limited := map[string]time.Time{}
	orders := map[string]int{}
	faults := map[string]int{}
	for _, r := range reqs {
		faults[r.Fault]++
		if r.Path != "/order-plz" && !strings.HasSuffix(r.Path, "new-order") {
			if len(r.Names) == 0 {
				continue
			}
		}
		for _, name := range r.Names {
			orders[name]++
			if until, ok := limited[name]; ok && r.At.Before(until) {
				t.Errorf("%s: newOrder at %s, before the Retry-After ended at %s", name, r.At.Format("15:04:05.000"), until.Format("15:04:05.000"))
			}
			if r.Fault == "rate_limited" || r.Fault == "unavailable" { // both with a Retry-After
				limited[name] = r.At.Add(r.RetryAfter)
			}
		}
	}
	counts := make([]int, 0, len(orders))
	for _, c := range orders {
		counts = append(counts, c)
	}
	slices.Sort(counts)
	if len(counts) != n {
		t.Fatalf("newOrder requests named %d certificates, want %d", len(counts), n)
	}
	maxOrders := counts[len(counts)-1]
	if maxOrders > 20 {
		t.Errorf("a certificate needed %d newOrder requests", maxOrders)
	}
	t.Logf("%d certificates renewed through %d ACME requests (%d per certificate); faults injected %v; "+
		"failed attempts %d; newOrder requests per certificate: median %d, max %d",
		n, len(reqs), len(reqs)/n, faults, failures, counts[len(counts)/2], maxOrders)
}
