package renew_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/renew"
)

// A Manager that renewed short-lived certificates several times leaves no
// goroutine behind once Run returned and the client's idle connections are
// closed: not its cron, workers, timers or notifier, nor a response left
// open (see TestService_Renewals_NoResponseLeftOpen).
func TestManager_Run_NoGoroutineLeftAfterStop(t *testing.T) {
	e := newEnv(t, acmetest.Options{Validity: 6 * time.Second})
	e.mustIssue(t, "gl.example", "gl.example")
	sink := newWebhookSink(t)
	e.svc.Notifier = &renew.Notifier{URL: sink.srv.URL, Backoff: 10 * time.Millisecond}
	closeIdle := func() {
		if c, ok := e.reqs.next.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	}
	closeIdle()
	ignore := goleak.IgnoreCurrent() // Pebble, its DNS and the test's servers

	ctx, events, stop := runManager(t, e.svc, 64, 60*time.Second)
	for renewed := 0; renewed < 3; {
		select {
		case ev := <-events:
			switch ev.Type {
			case renew.EventFailed:
				t.Fatalf("renewal failed: %v", ev.Result.Err)
			case renew.EventRenewed:
				renewed++
			}
		case <-ctx.Done():
			t.Fatal("timed out waiting for renewals")
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.svc.Notifier.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	closeIdle()
	goleak.VerifyNone(t, ignore)
}
