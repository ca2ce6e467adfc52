package acme

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// maxResponseBody bounds a CA's answer that drained reads (a certificate
// chain is a few KiB; lego itself reads at most 1 MiB of one).
const maxResponseBody = 4 << 20

// drained is the transport between lego and the network. lego leaves some
// response bodies neither read to the end nor closed (the HEAD of each new
// nonce, a revocation's answer); with a client timeout and a transport that
// is not net/http's own, each such response keeps a goroutine parked in
// net/http's setRequestCancel, and its connection, until the timeout
// passes: about a hundred at a time in a daemon renewing short-lived
// certificates. drained reads every body whole (up to maxResponseBody) and
// closes it before lego sees the response, which gets the bytes in memory.
// It also applies the client's timeout itself, to the request and the
// reading of its body, so that the client it serves has none and net/http
// starts no timer goroutine at all.
type drained struct {
	next    http.RoundTripper
	timeout time.Duration // 0: none
}

func (d drained) RoundTrip(r *http.Request) (*http.Response, error) {
	cancel := context.CancelFunc(func() {})
	if d.timeout > 0 {
		var ctx context.Context
		ctx, cancel = context.WithTimeout(r.Context(), d.timeout)
		r = r.WithContext(ctx)
	}
	defer cancel()
	resp, err := d.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	_ = resp.Body.Close()
	if err == nil && len(body) > maxResponseBody {
		err = fmt.Errorf("%s %s: response larger than %d bytes", r.Method, r.URL.Redacted(), maxResponseBody)
	}
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Uncompressed = true
	return resp, nil
}

// wrapClient returns a shallow copy of c for lego: its transport adds the
// poll hint and drains every answer, and its timeout moves into the
// transport (see drained).
func wrapClient(c *http.Client) *http.Client {
	cp := *c
	next := cp.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	cp.Transport = drained{next: pollHint{next: next}, timeout: c.Timeout}
	cp.Timeout = 0
	return &cp
}
