package acmetest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/letsencrypt/pebble/v2/acme"
	"github.com/letsencrypt/pebble/v2/core"
	"github.com/letsencrypt/pebble/v2/wfe"
)

// Paths of Pebble's ACME endpoints that the handler intercepts. Pebble does
// not export them; checkDirectory verifies them at Start.
const (
	newOrderPath  = "/order-plz"
	finalizePath  = "/finalize-order/"
	challengePath = "/chalZ/"
)

const (
	// maxWait bounds how long a challenge or finalize answer is held back.
	maxWait = 10 * time.Second
	// pollInterval is how often the handler looks at Pebble's store while
	// holding an answer back.
	pollInterval = time.Millisecond
	// maxOrderBody bounds the newOrder request bodies the handler reads.
	maxOrderBody = 1 << 20
)

// handler sits in front of Pebble's ACME and management handlers. It counts
// and optionally refuses newOrder requests, gives orders without a profile
// the default one, and holds challenge and finalize answers until Pebble's
// asynchronous work is done.
type handler struct {
	s      *Server
	acme   http.Handler
	manage http.Handler
}

func newHandler(s *Server) *handler {
	return &handler{
		s:      s,
		acme:   s.wfe.Handler(),
		manage: http.StripPrefix(ManagementPrefix, s.wfe.ManagementHandler()),
	}
}

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if isACME(p) && h.injectFault(w, r) {
		return
	}
	switch {
	case p == ManagementPrefix || strings.HasPrefix(p, ManagementPrefix+"/"):
		h.manage.ServeHTTP(w, r)
	case r.Method == http.MethodPost && p == newOrderPath:
		h.serveNewOrder(w, r)
	case r.Method == http.MethodPost && strings.HasPrefix(p, challengePath):
		h.serveChallenge(w, r, strings.TrimPrefix(p, challengePath))
	case r.Method == http.MethodPost && strings.HasPrefix(p, finalizePath):
		h.serveFinalize(w, r, strings.TrimPrefix(p, finalizePath))
	default:
		h.acme.ServeHTTP(w, r)
	}
}

// checkDirectory verifies that Pebble's directory lists the endpoints at the
// paths the handler intercepts.
func (h *handler) checkDirectory() error {
	req, err := http.NewRequest(http.MethodGet, "https://localhost"+wfe.DirectoryPath, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "certctl-acmetest")
	rec := newRecorder()
	h.acme.ServeHTTP(rec, req)
	var dir struct {
		NewOrder string `json:"newOrder"`
	}
	if rec.code != http.StatusOK {
		return fmt.Errorf("%w: directory answered %d", ErrUnexpectedPebble, rec.code)
	}
	if err := decodeJSON(rec.body.Bytes(), &dir, "directory"); err != nil {
		return fmt.Errorf("%w: %v", ErrUnexpectedPebble, err)
	}
	if urlPath(dir.NewOrder) != newOrderPath {
		return fmt.Errorf("%w: newOrder at %q, expected path %q", ErrUnexpectedPebble, dir.NewOrder, newOrderPath)
	}
	return nil
}

// orderRequest is the part of a newOrder request the handler looks at.
type orderRequest struct {
	Identifiers []acme.Identifier `json:"identifiers"`
	Replaces    string            `json:"replaces"`
	Profile     string            `json:"profile"`
	// AccountID is the last path segment of the JWS "kid" (not JSON).
	AccountID string `json:"-"`
}

// parseOrderRequest decodes the payload of a flattened JWS newOrder body.
func parseOrderRequest(body []byte) (*orderRequest, error) {
	var jws struct {
		Protected string `json:"protected"`
		Payload   string `json:"payload"`
	}
	if err := decodeJSON(body, &jws, "jws"); err != nil {
		return nil, err
	}
	var kid string
	if hdr, err := base64.RawURLEncoding.DecodeString(jws.Protected); err == nil {
		var protected struct {
			KID string `json:"kid"`
		}
		if json.Unmarshal(hdr, &protected) == nil {
			kid = protected.KID
		}
	}
	payload, err := base64.RawURLEncoding.DecodeString(jws.Payload)
	if err != nil {
		return nil, fmt.Errorf("jws payload: decoding: %w", err)
	}
	var req orderRequest
	if err := decodeJSON(payload, &req, "order"); err != nil {
		return nil, err
	}
	req.AccountID = path.Base(urlPath(kid))
	return &req, nil
}

// retireAuthorizations makes the valid authorizations that Pebble could
// reuse for req unusable, by expiring them. Pebble reuses one now and then
// even with PEBBLE_AUTHZREUSE=0 (it compares rand.Intn(100) > percent, so a
// draw of 0 reuses): a test that closed its challenge responder would then see
// a renewal succeed without any validation. Only authorizations of finished
// orders (issued or failed) are retired, so a concurrent order stays intact.
func (h *handler) retireAuthorizations(req *orderRequest) {
	past := time.Now().Add(-time.Second)
	for _, id := range req.Identifiers {
		for {
			authz := h.s.store.FindValidAuthorization(req.AccountID, id)
			if authz == nil || !finished(authz.Order) {
				break
			}
			authz.Lock()
			authz.ExpiresDate = past
			authz.Unlock()
		}
	}
}

// finished reports whether order has its certificate or has failed.
func finished(order *core.Order) bool {
	order.RLock()
	defer order.RUnlock()
	return order.CertificateObject != nil || order.Error != nil
}

func (h *handler) serveNewOrder(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOrderBody))
	if err != nil {
		h.sendProblem(w, http.StatusBadRequest, "urn:ietf:params:acme:error:malformed",
			"reading request body: "+err.Error(), 0)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))

	req, err := parseOrderRequest(body)
	var ids []string
	if err == nil {
		if h.s.noReuse {
			h.retireAuthorizations(req)
		}
		ids = make([]string, 0, len(req.Identifiers))
		for _, id := range req.Identifiers {
			ids = append(ids, id.Value)
		}
	} else {
		h.s.logger.Debug("acmetest: unreadable newOrder payload", slog.Any("err", err))
	}

	s := h.s
	s.mu.Lock()
	s.orders = append(s.orders, ids)
	if req != nil && req.Replaces != "" {
		s.replaces++
	}
	fail := s.failLeft > 0
	status, retry := s.failStatus, s.failRetry
	if fail {
		s.failLeft--
	}
	s.mu.Unlock()

	if fail {
		typ, detail := "urn:ietf:params:acme:error:serverInternal", "acmetest: injected failure"
		if status == http.StatusTooManyRequests {
			typ, detail = "urn:ietf:params:acme:error:rateLimited", "acmetest: injected rate limit"
		}
		h.sendProblem(w, status, typ, detail, retry)
		return
	}

	rec := newRecorder()
	h.acme.ServeHTTP(rec, r)
	if rec.code == http.StatusCreated {
		id := strings.TrimPrefix(urlPath(rec.header.Get("Location")), "/my-order/")
		// Pebble picks a random profile for an order naming none: give it
		// the default one before the client sees the order. (Only then is
		// the order looked up: Pebble's lookup takes its store's lock and
		// then the order's, which its own goroutines take the other way
		// round.)
		if req != nil && req.Profile == "" && s.profiles >= 2 {
			if order := s.store.GetOrderByID(id); order != nil {
				order.Lock()
				order.Profile = DefaultProfile
				order.Unlock()
				rec.setJSONField("profile", DefaultProfile)
			}
		}
		s.orderOpened(id)
	}
	rec.flush(w)
}

// serveChallenge answers a challenge request once Pebble's validation of the
// challenge is over, with the challenge's final state.
func (h *handler) serveChallenge(w http.ResponseWriter, r *http.Request, id string) {
	rec := newRecorder()
	h.acme.ServeHTTP(rec, r)
	chal := h.s.store.GetChallengeByID(id)
	if rec.code != http.StatusOK || chal == nil {
		rec.flush(w)
		return
	}
	processing := func() bool {
		chal.RLock()
		defer chal.RUnlock()
		return chal.Status == acme.StatusProcessing
	}
	// Pebble wrote the challenge as "processing"; whether or not the
	// validation is already over, answer with the state after it.
	h.wait(r, processing)
	if !processing() {
		h.checkCAA(chal)
	}
	if d := h.s.latency; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
		case <-h.s.done:
		}
		t.Stop()
	}
	chal.RLock()
	body, err := json.Marshal(chal.Challenge)
	authz := chal.Authz
	invalid := chal.Status == acme.StatusInvalid
	chal.RUnlock()
	if err == nil {
		rec.body.Reset()
		rec.body.Write(body)
	}
	if authz != nil {
		authz.RLock()
		ident := strings.TrimPrefix(authz.Identifier.Value, "*.")
		order := authz.Order
		authz.RUnlock()
		if invalid && order != nil {
			order.RLock()
			id := order.ID
			order.RUnlock()
			h.s.orderClosed(id)
		}
		h.s.dns.forget(ident)
		h.s.dns.forget("_acme-challenge." + ident)
	}
	rec.flush(w)
}

// serveFinalize answers a finalize request once the certificate is issued
// (or issuance failed), with the order's final state.
func (h *handler) serveFinalize(w http.ResponseWriter, r *http.Request, id string) {
	rec := newRecorder()
	h.acme.ServeHTTP(rec, r)
	if rec.code != http.StatusOK {
		rec.flush(w)
		return
	}
	order := h.s.store.GetOrderByID(id)
	if order == nil {
		rec.flush(w)
		return
	}
	var oldOrder *core.Order // the order whose certificate this one replaces
	order.RLock()
	replaces := order.Replaces
	order.RUnlock()
	if replaces != "" {
		if serial, ok := serialOfCertID(replaces); ok {
			oldOrder, _ = h.s.store.GetOrderByIssuedSerial(serial)
		}
	}
	// Pebble's finalization goroutine issues the certificate, indexes the
	// order by serial, then marks the replaced order: wait for all three so
	// that no Pebble goroutine is still running when the client goes on.
	var cert *core.Certificate
	pending := func() bool {
		order.RLock()
		cert = order.CertificateObject
		failed := order.Error != nil
		order.RUnlock()
		if failed {
			return false
		}
		if cert == nil {
			return true
		}
		if _, err := h.s.store.GetOrderByIssuedSerial(cert.ID); err != nil {
			return true
		}
		if oldOrder != nil {
			oldOrder.RLock()
			defer oldOrder.RUnlock()
			return !oldOrder.IsReplaced
		}
		return false
	}
	h.wait(r, pending)
	h.s.orderClosed(id)
	if cert != nil {
		certURL := "https://" + r.Host + "/certZ/" + cert.ID
		rec.setJSONField("status", acme.StatusValid)
		rec.setJSONField("certificate", certURL)
	}
	rec.flush(w)
}

// wait polls cond until it is false, the request is cancelled, the Server
// closes or maxWait passes.
func (h *handler) wait(r *http.Request, cond func() bool) {
	deadline := time.NewTimer(maxWait)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			h.s.logger.Warn("acmetest: gave up waiting for pebble", slog.String("path", r.URL.Path))
			return
		case <-r.Context().Done():
			return
		case <-h.s.done:
			return
		}
	}
}

// serialOfCertID returns the hex serial of an ARI certificate identifier
// ("base64url(AKI).base64url(serial)"), as Pebble indexes it.
func serialOfCertID(certID string) (string, bool) {
	_, serial, ok := strings.Cut(certID, ".")
	if !ok {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(serial)
	if err != nil || len(b) == 0 {
		return "", false
	}
	return hex.EncodeToString(b), true
}

// sendProblem writes an ACME problem document, with a fresh nonce from
// Pebble so that the client's next request does not fail with badNonce.
func (h *handler) sendProblem(w http.ResponseWriter, status int, typ, detail string, retryAfter time.Duration) {
	if nonce := h.nonce(); nonce != "" {
		w.Header().Set("Replay-Nonce", nonce)
	}
	if retryAfter > 0 {
		secs := int64(math.Ceil(retryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	body, _ := json.Marshal(acme.ProblemDetails{Type: typ, Detail: detail, HTTPStatus: status})
	w.Header().Set("Content-Type", "application/problem+json; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=0, no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// nonce asks Pebble for a fresh nonce.
func (h *handler) nonce() string {
	req, err := http.NewRequest(http.MethodHead, "https://localhost/nonce-plz", nil)
	if err != nil {
		return ""
	}
	req.Header.Set("User-Agent", "certctl-acmetest")
	rec := newRecorder()
	h.acme.ServeHTTP(rec, req)
	return rec.header.Get("Replay-Nonce")
}

// recorder buffers a response so that the handler can change it before the
// client sees it.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: make(http.Header), code: http.StatusOK} }

// Header implements http.ResponseWriter.
func (rec *recorder) Header() http.Header { return rec.header }

// WriteHeader implements http.ResponseWriter.
func (rec *recorder) WriteHeader(code int) { rec.code = code }

// Write implements http.ResponseWriter.
func (rec *recorder) Write(p []byte) (int, error) { return rec.body.Write(p) }

// setJSONField sets a top-level field of the buffered JSON object body; it
// leaves a body that is not a JSON object alone.
func (rec *recorder) setJSONField(name string, value any) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(rec.body.Bytes(), &obj); err != nil {
		return
	}
	v, err := json.Marshal(value)
	if err != nil {
		return
	}
	obj[name] = v
	out, err := json.Marshal(obj)
	if err != nil {
		return
	}
	rec.body.Reset()
	rec.body.Write(out)
}

// flush sends the buffered response to w.
func (rec *recorder) flush(w http.ResponseWriter) {
	dst := w.Header()
	for k, v := range rec.header {
		dst[k] = v
	}
	dst.Del("Content-Length")
	w.WriteHeader(rec.code)
	_, _ = w.Write(rec.body.Bytes())
}
