package renew_test

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/certctl/certctl/internal/acmetest"
)

// parkedRequests counts the goroutines net/http keeps for a request whose
// client has a timeout and whose response body nobody read to the end or
// closed: each waits in setRequestCancel until that timeout passes, with
// its connection.
func parkedRequests() (int, string) {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	var first string
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("net/http.setRequestCancel")) {
			if n == 0 {
				first = string(g)
			}
			n++
		}
	}
	return n, first
}

// A daemon renewing short certificates used to keep about a hundred
// goroutines parked in net/http's setRequestCancel: lego leaves some
// response bodies (its nonce HEADs, revocations) unclosed, and with the
// client's timeout each held a goroutine and a connection for that long.
// After renewals, ARI checks and a revocation, none may be left.
func TestService_Renewals_NoResponseLeftOpen(t *testing.T) {
	e := newEnv(t, acmetest.Options{})
	ctx := context.Background()
	e.mustIssue(t, "leak.example", "leak.example")
	const n = 5
	for i := 0; i < n; i++ {
		if r := e.svc.Renew(ctx, "leak.example", i%2 == 0); r.Err != nil {
			t.Fatalf("renewal %d: %v", i, r.Err)
		}
	}
	if _, err := e.svc.Revoke(ctx, "leak.example", 4); err != nil {
		t.Fatal(err)
	}
	if got, stack := parkedRequests(); got != 0 {
		t.Errorf("%d goroutines parked in setRequestCancel after %d renewals and a revocation; the first:\n%s",
			got, n, strings.TrimSpace(stack))
	}
}
