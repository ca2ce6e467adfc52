package renew_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// webhookSink records the notifications POSTed to it.
type webhookSink struct {
	mu   sync.Mutex
	got  []renew.Notification
	srv  *httptest.Server
	seen chan struct{}
}

func newWebhookSink(t *testing.T) *webhookSink {
	w := &webhookSink{seen: make(chan struct{}, 64)}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var n renew.Notification
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			http.Error(rw, err.Error(), 400)
			return
		}
		w.mu.Lock()
		w.got = append(w.got, n)
		w.mu.Unlock()
		w.seen <- struct{}{}
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webhookSink) events() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, n := range w.got {
		out = append(out, string(n.Event)+":"+n.Name)
	}
	return out
}

// Validations fail while the HTTP-01 responder is down: attempts back off
// with growing gaps, the error is recorded, the failure hook and the webhook
// fire; when the responder is back, the certificate renews and is valid.
func TestService_FailureThenRecovery(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	ctx := context.Background()
	addr := "127.0.0.1:" + strconv.Itoa(e.srv.HTTPPort())
	responder := acme.NewHTTPResponder()
	if err := responder.Listen(addr); err != nil {
		t.Fatal(err)
	}
	e.svc.Solvers.HTTPResponder = responder
	first := e.mustIssue(t, "fr.example", "fr.example")

	hookOut := filepath.Join(t.TempDir(), "failures")
	hook := filepath.Join(t.TempDir(), "on-failure.sh")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho \"$CERTCTL_EVENT $CERTCTL_NAME $CERTCTL_ERROR\" >> "+hookOut+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.svc.GlobalHooks = store.Hooks{Failure: []string{hook}}
	sink := newWebhookSink(t)
	e.svc.Notifier = &renew.Notifier{URL: sink.srv.URL, Backoff: 10 * time.Millisecond}
	defer e.svc.Notifier.Close(ctx)

	// Stop answering challenges and jump to when the certificate is due.
	if err := responder.Close(); err != nil {
		t.Fatal(err)
	}
	c, _ := e.db.Get(ctx, "fr.example")
	c.ARI.RetryAfter = time.Now().Add(1000 * time.Hour) // no ARI: the lifetime rule
	if err := e.db.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	clock := c.ActiveVersion().NotAfter.Add(-25 * 24 * time.Hour)
	e.svc.Now = func() time.Time { return clock }

	var gaps []time.Duration
	for i := 1; i <= 4; i++ {
		r := e.svc.Renew(ctx, "fr.example", false)
		if r.Action != renew.ActionFailed {
			t.Fatalf("attempt %d: %+v", i, r)
		}
		c, _ = e.db.Get(ctx, "fr.example")
		if c.Renewal.Attempts != i || !strings.Contains(c.Renewal.LastError, "fr.example") || c.ActiveVersion().Serial != first.Serial {
			t.Fatalf("attempt %d recorded as %+v", i, c.Renewal)
		}
		if st := renew.StatusOf(c, e.svc.Decide(c), clock); st != "failing" {
			t.Fatalf("status after %d failures: %s", i, st)
		}
		gap := c.Renewal.Next.Sub(clock)
		gaps = append(gaps, gap)
		// Not retried before the back-off ends.
		clock = clock.Add(gap / 2)
		if r := e.svc.Renew(ctx, "fr.example", false); r.Action != renew.ActionNotDue {
			t.Fatalf("retried during back-off: %+v", r)
		}
		clock = c.Renewal.Next
	}
	for i := 1; i < len(gaps); i++ {
		if gaps[i] <= gaps[i-1] {
			t.Fatalf("back-off gaps do not grow: %v", gaps)
		}
	}
	if gaps[0] < renew.MinBackoff || gaps[0] > renew.MinBackoff*6/5 {
		t.Fatalf("first gap %v", gaps[0])
	}
	b, _ := os.ReadFile(hookOut)
	if n := strings.Count(string(b), "failure fr.example fr.example:"); n != 4 {
		t.Fatalf("failure hook ran %d times:\n%s", n, b)
	}
	for len(sink.events()) < 4 {
		select {
		case <-sink.seen:
		case <-time.After(10 * time.Second):
			t.Fatalf("webhook got %v", sink.events())
		}
	}
	if ev := sink.events(); ev[0] != "renewal_failed:fr.example" {
		t.Fatalf("webhook events %v", ev)
	}

	// The responder is back: the next attempt renews.
	if err := responder.Listen(addr); err != nil {
		t.Fatal(err)
	}
	defer responder.Close()
	r := e.svc.Renew(ctx, "fr.example", false)
	if r.Err != nil || r.Action != renew.ActionRenewed {
		t.Fatalf("after recovery: %+v", r)
	}
	c, _ = e.db.Get(ctx, "fr.example")
	e.svc.Now = nil // the new certificate's validity is real time
	if st := renew.StatusOf(c, e.svc.Decide(c), time.Now()); c.Renewal.Attempts != 0 || c.Renewal.LastError != "" || st != "valid" {
		t.Fatalf("after recovery: %+v status %s", c.Renewal, st)
	}
}

// A CA answering 429 with Retry-After is not asked again before that time.
func TestService_RateLimitRetryAfterHonoured(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	ctx := context.Background()
	e.mustIssue(t, "rl.example", "rl.example")
	c, _ := e.db.Get(ctx, "rl.example")
	c.ARI.RetryAfter = time.Now().Add(1000 * time.Hour) // no ARI: the lifetime rule
	if err := e.db.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	due := c.ActiveVersion().NotAfter.Add(-25 * 24 * time.Hour)
	clock := due
	e.svc.Now = func() time.Time { return clock }
	e.srv.FailNewOrders(1, http.StatusTooManyRequests, 3*time.Hour)
	if r := e.svc.Renew(ctx, "rl.example", false); r.Action != renew.ActionFailed {
		t.Fatalf("first attempt: %+v", r)
	}
	orders := e.srv.Orders()
	for _, after := range []time.Duration{time.Minute, time.Hour, 2*time.Hour + 59*time.Minute} {
		clock = due.Add(after)
		if r := e.svc.Renew(ctx, "rl.example", false); r.Action != renew.ActionNotDue {
			t.Fatalf("at +%v: %+v", after, r)
		}
	}
	if e.srv.Orders() != orders {
		t.Fatalf("%d orders before Retry-After passed", e.srv.Orders()-orders)
	}
	clock = due.Add(3*time.Hour + time.Minute)
	if r := e.svc.Renew(ctx, "rl.example", false); r.Action != renew.ActionRenewed {
		t.Fatalf("after Retry-After: %+v", r)
	}
}

// A certificate in the last tenth of its lifetime whose renewal fails is
// reported once as expiring, besides each failure.
func TestService_ExpiringNotifiedOnce(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	ctx := context.Background()
	responder := acme.NewHTTPResponder()
	addr := "127.0.0.1:" + strconv.Itoa(e.srv.HTTPPort())
	if err := responder.Listen(addr); err != nil {
		t.Fatal(err)
	}
	e.svc.Solvers.HTTPResponder = responder
	e.mustIssue(t, "exp.example", "exp.example")
	_ = responder.Close()
	sink := newWebhookSink(t)
	e.svc.Notifier = &renew.Notifier{URL: sink.srv.URL, Backoff: 10 * time.Millisecond}
	c, _ := e.db.Get(ctx, "exp.example")
	clock := c.ActiveVersion().NotAfter.Add(-5 * 24 * time.Hour)
	e.svc.Now = func() time.Time { return clock }
	for i := 0; i < 2; i++ {
		if r := e.svc.Renew(ctx, "exp.example", true); r.Action != renew.ActionFailed {
			t.Fatalf("attempt %d: %+v", i, r)
		}
	}
	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := e.svc.Notifier.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(sink.events(), " ")
	if strings.Count(got, "renewal_failed:exp.example") != 2 || strings.Count(got, "expiring:exp.example") != 1 {
		t.Fatalf("webhook events: %s", got)
	}
}
