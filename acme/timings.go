package acme

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Timings are where the time of one [Client.Obtain] went, split at the
// first request of each step of the order as it crossed the wire (lego
// gives no hooks of its own). A step that did not happen (no challenge to
// solve when the CA reused an authorization) takes zero time.
type Timings struct {
	// Setup is fetching the directory and setting up the challenge
	// responder, until the order is placed.
	Setup time.Duration
	// Order is placing the order, fetching its authorizations and
	// presenting their challenges.
	Order time.Duration
	// Validation is the wait for the CA to validate the challenges: from
	// the first challenge answered until finalization.
	Validation time.Duration
	// Finalize is from sending the CSR until the certificate is ready.
	Finalize time.Duration
	// Download is fetching the certificate.
	Download time.Duration
}

// Total returns the sum of the steps.
func (t Timings) Total() time.Duration {
	return t.Setup + t.Order + t.Validation + t.Finalize + t.Download
}

// challengePollStart is the first interval, in seconds, at which lego polls
// an authorization after answering its challenge when the CA gave no
// Retry-After. lego then backs off exponentially (x1.5 with jitter) up to
// ten times it and gives up after a hundred times it; a Retry-After the CA
// sends is used as it is.
const challengePollStart = "1"

// Marks of the steps, in order.
const (
	markOrder = iota
	markChallenge
	markFinalize
	markCert
	nMarks
)

// phaseTransport times the steps of one order from the requests lego makes:
// it learns the newOrder URL from the directory, the authorization and
// finalize URLs from the order, the challenge URLs from the authorizations
// and the certificate URL from the finalized order.
type phaseTransport struct {
	next http.RoundTripper

	mu       sync.Mutex
	newOrder string
	finalize string
	cert     string
	authz    map[string]bool
	chall    map[string]bool
	marks    [nMarks]time.Time
}

func newPhaseTransport(next http.RoundTripper) *phaseTransport {
	if next == nil {
		next = http.DefaultTransport
	}
	return &phaseTransport{next: next, authz: map[string]bool{}, chall: map[string]bool{}}
}

// acmeObject holds the fields of the directory, order and authorization
// objects that name the URLs of the next steps.
type acmeObject struct {
	NewOrder       string   `json:"newOrder"`
	Finalize       string   `json:"finalize"`
	Certificate    string   `json:"certificate"`
	Authorizations []string `json:"authorizations"`
	Challenges     []struct {
		URL string `json:"url"`
	} `json:"challenges"`
}

// RoundTrip implements http.RoundTripper.
func (p *phaseTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	u := req.URL.String()
	now := time.Now()
	p.mu.Lock()
	switch {
	case u == p.newOrder && req.Method == http.MethodPost:
		p.mark(markOrder, now)
	case p.chall[u] && req.Method == http.MethodPost:
		p.mark(markChallenge, now)
	case u == p.finalize && p.finalize != "":
		p.mark(markFinalize, now)
	case u == p.cert && p.cert != "":
		p.mark(markCert, now)
	}
	isChall := p.chall[u] && req.Method == http.MethodPost
	p.mu.Unlock()
	resp, err := p.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if isChall && resp.StatusCode/100 == 2 && resp.Header.Get("Retry-After") == "" {
		// lego polls a challenge's authorization from the challenge's
		// Retry-After on, 5 s when the CA gives none (Let's Encrypt never
		// does); validation usually takes a second or two.
		resp.Header.Set("Retry-After", challengePollStart)
	}
	if !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		return resp, nil
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if rerr != nil {
		return resp, nil // lego reads a short body and reports it
	}
	var o acmeObject
	if json.Unmarshal(body, &o) == nil {
		p.learn(o)
	}
	return resp, nil
}

// mark records the first time step i started. The caller holds p.mu.
func (p *phaseTransport) mark(i int, t time.Time) {
	if p.marks[i].IsZero() {
		p.marks[i] = t
	}
}

// learn records the URLs of the next steps that o names.
func (p *phaseTransport) learn(o acmeObject) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if o.NewOrder != "" {
		p.newOrder = o.NewOrder
	}
	if o.Finalize != "" {
		p.finalize = o.Finalize
	}
	if o.Certificate != "" {
		p.cert = o.Certificate
	}
	for _, a := range o.Authorizations {
		p.authz[a] = true
	}
	for _, c := range o.Challenges {
		p.chall[c.URL] = true
	}
}

// timings splits the time from start to end at the marks; a missing mark
// takes the time of the next one present.
func (p *phaseTransport) timings(start, end time.Time) Timings {
	p.mu.Lock()
	m := p.marks
	p.mu.Unlock()
	next := end
	for i := nMarks - 1; i >= 0; i-- {
		if m[i].IsZero() || m[i].After(next) {
			m[i] = next
		}
		next = m[i]
	}
	if start.After(m[markOrder]) {
		start = m[markOrder]
	}
	return Timings{
		Setup:      m[markOrder].Sub(start),
		Order:      m[markChallenge].Sub(m[markOrder]),
		Validation: m[markFinalize].Sub(m[markChallenge]),
		Finalize:   m[markCert].Sub(m[markFinalize]),
		Download:   end.Sub(m[markCert]),
	}
}
