package acmetest

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Faults make the CA misbehave at fixed rates, as a CA under load or
// behind a flaky network does. Each rate is the fraction (0 to 1) of ACME
// requests (management requests are never touched) that get the fault; a
// request gets at most one, tried in the order of the fields. Set them with
// [Server.SetFaults]; the zero value injects nothing.
type Faults struct {
	// RateLimited answers newOrder requests 429 rateLimited with a
	// Retry-After of RetryAfter (at least one second).
	RateLimited float64
	// RetryAfter is the Retry-After of injected rate limits.
	RetryAfter time.Duration
	// ServerError answers 500 serverInternal.
	ServerError float64
	// Unavailable answers 503 with a Retry-After of one second.
	Unavailable float64
	// Drop closes the connection without an answer.
	Drop float64
	// Slow holds the request for SlowDelay, then drops the connection
	// without processing it: a client with a shorter timeout gives up
	// first.
	Slow float64
	// SlowDelay is how long a slow request is held.
	SlowDelay time.Duration
	// Seed seeds the fault choice, so a run can be repeated.
	Seed uint64
}

// Request is one ACME request as the CA saw it, for fault tests to check
// how a client behaved.
type Request struct {
	// At is when the request arrived.
	At time.Time
	// Method and Path are the request's.
	Method, Path string
	// Names are the identifiers of a newOrder request.
	Names []string
	// Fault is the fault injected ("" for none): "rate_limited",
	// "server_error", "unavailable", "drop" or "slow".
	Fault string
	// RetryAfter is the Retry-After sent with the fault.
	RetryAfter time.Duration
}

// faultState is the Server's fault configuration and request log.
type faultState struct {
	faults Faults
	rng    *rand.Rand
	log    []Request
}

// SetFaults replaces the faults injected from now on and clears the
// request log.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = faultState{faults: f, rng: rand.New(rand.NewPCG(f.Seed, 0x6661756c74))}
}

// Requests returns the ACME requests seen since the last SetFaults (none
// are recorded before the first).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.fault.log)
}

// injectFault records r and, if a fault is due, answers it (or drops its
// connection) and reports true.
func (h *handler) injectFault(w http.ResponseWriter, r *http.Request) bool {
	s := h.s
	var names []string
	newOrder := r.Method == http.MethodPost && r.URL.Path == newOrderPath
	if newOrder {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOrderBody))
		if err != nil {
			return false
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if req, err := parseOrderRequest(body); err == nil {
			for _, id := range req.Identifiers {
				names = append(names, id.Value)
			}
		}
	}

	s.mu.Lock()
	fs := &s.fault
	if fs.rng == nil {
		s.mu.Unlock()
		return false
	}
	f := fs.faults
	rec := Request{At: time.Now(), Method: r.Method, Path: r.URL.Path, Names: names}
	rl := 0.0 // only newOrder requests are rate limited
	if newOrder {
		rl = f.RateLimited
	}
	switch x := fs.rng.Float64(); {
	case x < rl:
		rec.Fault, rec.RetryAfter = "rate_limited", max(f.RetryAfter, time.Second)
	case x < rl+f.ServerError:
		rec.Fault = "server_error"
	case x < rl+f.ServerError+f.Unavailable:
		rec.Fault, rec.RetryAfter = "unavailable", time.Second
	case x < rl+f.ServerError+f.Unavailable+f.Drop:
		rec.Fault = "drop"
	case x < rl+f.ServerError+f.Unavailable+f.Drop+f.Slow:
		rec.Fault = "slow"
	}
	fs.log = append(fs.log, rec)
	s.mu.Unlock()

	switch rec.Fault {
	case "":
		return false
	case "rate_limited":
		h.sendProblem(w, http.StatusTooManyRequests, "urn:ietf:params:acme:error:rateLimited",
			"acmetest: injected rate limit", rec.RetryAfter)
	case "server_error":
		h.sendProblem(w, http.StatusInternalServerError, "urn:ietf:params:acme:error:serverInternal",
			"acmetest: injected server error", 0)
	case "unavailable":
		h.sendProblem(w, http.StatusServiceUnavailable, "urn:ietf:params:acme:error:serverInternal",
			"acmetest: injected unavailability", rec.RetryAfter)
	case "slow":
		t := time.NewTimer(f.SlowDelay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		case <-s.done:
			t.Stop()
		}
		dropConn(w)
	case "drop":
		dropConn(w)
	}
	return true
}

// dropConn closes the request's connection without an answer.
func dropConn(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			_ = c.Close()
			return
		}
	}
	// No hijacking (HTTP/2): abort the handler, which resets the stream.
	panic(http.ErrAbortHandler)
}

// isACME reports whether p is an ACME path (not the management API).
func isACME(p string) bool {
	return p != ManagementPrefix && !strings.HasPrefix(p, ManagementPrefix+"/")
}
