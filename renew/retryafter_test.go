package renew_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/renew"
)

// A CA that answers a renewal's newOrder 503 with a Retry-After gets no new
// attempt before it has passed, however short the back-off: the failure
// carries the Retry-After ([acme.BusyError]) and the next attempt is
// scheduled after it. The active certificate stays.
func TestService_Renew_503RetryAfterHonoured(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	first := e.mustIssue(t, "busy.example", "busy.example")
	e.svc.Policy = renew.Policy{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
	e.srv.FailNewOrders(1, http.StatusServiceUnavailable, 7*time.Second)
	r := e.svc.Renew(context.Background(), "busy.example", true)
	var be *acme.BusyError
	if r.Action != renew.ActionFailed || !errors.As(r.Err, &be) || acme.RetryAfter(r.Err) != 7*time.Second {
		t.Fatalf("renewal through a 503: %s %v", r.Action, r.Err)
	}
	c := mustGet(t, e.db, "busy.example")
	if wait := c.Renewal.Next.Sub(c.Renewal.LastAttempt); wait < 7*time.Second {
		t.Fatalf("next attempt %s after the failure, before the CA's Retry-After of 7s", wait)
	}
	if v := e.verifyActive(t, "busy.example"); v.Serial != first.Serial {
		t.Fatalf("active serial %s, want %s", v.Serial, first.Serial)
	}
}
