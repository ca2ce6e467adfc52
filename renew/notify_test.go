package renew_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certctl/certctl/renew"
)

// hookRecorder is a webhook that records what it receives and answers with
// the statuses given, then 204.
type hookRecorder struct {
	mu       sync.Mutex
	bodies   [][]byte
	headers  []http.Header
	statuses []int
	attempts int
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts++
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if len(h.statuses) > 0 {
		st := h.statuses[0]
		h.statuses = h.statuses[1:]
		w.WriteHeader(st)
		return
	}
	h.bodies = append(h.bodies, b)
	h.headers = append(h.headers, r.Header.Clone())
	w.WriteHeader(http.StatusNoContent)
}

func (h *hookRecorder) events(t *testing.T) []string {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, b := range h.bodies {
		var n renew.Notification
		if err := json.Unmarshal(b, &n); err != nil {
			t.Fatal(err)
		}
		out = append(out, string(n.Event))
	}
	return out
}

func closeNotifier(t *testing.T, n *renew.Notifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestNotifier_Notify_BodySchema(t *testing.T) {
	rec := &hookRecorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	n := renew.NewNotifier(srv.URL, srv.Client(), nil)
	when := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	n.Notify(renew.Notification{
		Event: renew.NotifyRenewalFailed, Name: "www", Domains: []string{"www.example", "example"},
		Error: "rate limited", NotAfter: when, Time: when.Add(-time.Hour),
	})
	n.Notify(renew.Notification{Event: renew.NotifyExpiring, Name: "bare"})
	closeNotifier(t, n)

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.bodies) != 2 {
		t.Fatalf("got %d notifications, want 2", len(rec.bodies))
	}
	var full map[string]any
	if err := json.Unmarshal(rec.bodies[0], &full); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"event": "renewal_failed", "name": "www", "domains": []any{"www.example", "example"},
		"error": "rate limited", "not_after": "2030-01-02T03:04:05Z", "time": "2030-01-02T02:04:05Z",
	}
	if !mapsEqualJSON(full, want) {
		t.Errorf("body = %s, want %v", rec.bodies[0], want)
	}
	var bare map[string]any
	if err := json.Unmarshal(rec.bodies[1], &bare); err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(maps.Keys(bare))
	if !slices.Equal(keys, []string{"domains", "event", "name", "time"}) {
		t.Errorf("bare body keys %q: error and not_after must be omitted, domains kept", keys)
	}
	if d, ok := bare["domains"].([]any); !ok || len(d) != 0 {
		t.Errorf("domains = %#v, want []", bare["domains"])
	}
	if ts, _ := bare["time"].(string); ts == "" || strings.HasPrefix(ts, "0001") {
		t.Errorf("time = %q, want set by Notify", bare["time"])
	}
	if ct := rec.headers[0].Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
}

func mapsEqualJSON(a, b map[string]any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestNotifier_Retry_FailsTwiceThenDelivered(t *testing.T) {
	rec := &hookRecorder{statuses: []int{http.StatusInternalServerError, http.StatusBadGateway}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	n := renew.NewNotifier(srv.URL, srv.Client(), nil)
	n.Backoff = time.Millisecond
	n.Notify(renew.Notification{Event: renew.NotifyRenewalFailed, Name: "www"})
	closeNotifier(t, n)
	rec.mu.Lock()
	attempts := rec.attempts
	rec.mu.Unlock()
	if attempts != 3 {
		t.Errorf("attempts = %d, want 3", attempts)
	}
	if ev := rec.events(t); !slices.Equal(ev, []string{"renewal_failed"}) {
		t.Errorf("delivered %q", ev)
	}
}

func TestNotifier_Retry_GivesUpAfterMaxAttempts(t *testing.T) {
	rec := &hookRecorder{statuses: slices.Repeat([]int{http.StatusServiceUnavailable}, 10)}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	var logs bytes.Buffer
	n := renew.NewNotifier(srv.URL, srv.Client(), slog.New(slog.NewTextHandler(&logs, nil)))
	n.Backoff = time.Millisecond
	n.MaxAttempts = 4
	n.Notify(renew.Notification{Event: renew.NotifyExpiring, Name: "x"})
	closeNotifier(t, n)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.attempts != 4 || len(rec.bodies) != 0 {
		t.Errorf("attempts = %d, delivered %d; want 4 and 0", rec.attempts, len(rec.bodies))
	}
	if !strings.Contains(logs.String(), "notification dropped") {
		t.Errorf("give-up not logged:\n%s", logs.String())
	}
}

func TestNotifier_ClientError_NotRetried(t *testing.T) {
	rec := &hookRecorder{statuses: []int{http.StatusBadRequest, http.StatusBadRequest}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	n := renew.NewNotifier(srv.URL, srv.Client(), nil)
	n.Backoff = time.Millisecond
	n.Notify(renew.Notification{Event: "x", Name: "x"})
	closeNotifier(t, n)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.attempts != 1 {
		t.Errorf("attempts = %d, want 1", rec.attempts)
	}
}

func TestNotifier_Unreachable_NotifyReturnsCloseByContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String() + "/hook"
	l.Close()
	var logs syncBuffer
	n := renew.NewNotifier(url, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	n.Backoff = time.Hour // the first retry waits past Close's deadline
	// Far more than the queue holds: Notify must neither block nor fail.
	for range renew.DefaultNotifyQueue + 50 {
		n.Notify(renew.Notification{Event: renew.NotifyRenewalFailed, Name: "www"})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err = n.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, renew.ErrNotifierClosed) {
		t.Fatalf("Close = %v, want ErrNotifierClosed and DeadlineExceeded", err)
	}
	out := logs.String()
	for _, s := range []string{"queue full", "will retry", "notifications dropped"} {
		if !strings.Contains(out, s) {
			t.Errorf("logs lack %q", s)
		}
	}
	// A second Close sees the same end at once.
	if err := n.Close(t.Context()); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestNotifier_QueueFull_DropsOldest(t *testing.T) {
	first := make(chan struct{})
	release := make(chan struct{})
	rec := &hookRecorder{}
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(first); <-release })
		rec.ServeHTTP(w, r)
	}))
	defer srv.Close()
	n := renew.NewNotifier(srv.URL, srv.Client(), nil)
	n.QueueSize = 3
	n.Notify(renew.Notification{Event: "e0"})
	<-first // e0 is being delivered; the queue is empty
	for _, e := range []renew.NotifyEvent{"e1", "e2", "e3", "e4", "e5"} {
		n.Notify(renew.Notification{Event: e})
	}
	close(release)
	closeNotifier(t, n)
	if ev := rec.events(t); !slices.Equal(ev, []string{"e0", "e3", "e4", "e5"}) {
		t.Errorf("delivered %q, want e0 then the newest three", ev)
	}
}

func TestNotifier_AfterClose_Discarded(t *testing.T) {
	rec := &hookRecorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	n := renew.NewNotifier(srv.URL, srv.Client(), nil)
	closeNotifier(t, n)
	n.Notify(renew.Notification{Event: "late"})
	closeNotifier(t, n)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.attempts != 0 {
		t.Errorf("%d requests after Close", rec.attempts)
	}
}

// A notifier without a URL sends nothing and keeps nothing: its client is
// never called, and Close with no time left reports nothing dropped.
func TestNotifier_EmptyURL_Discards(t *testing.T) {
	var calls atomic.Int32
	client := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		calls.Add(1)
		return nil, errors.New("no request expected")
	})}
	n := renew.NewNotifier("", client, nil)
	for range 3 {
		n.Notify(renew.Notification{Event: renew.NotifyRenewalFailed, Name: "x"})
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatalf("Close with nothing queued: %v", err)
	}
	if c := calls.Load(); c != 0 {
		t.Fatalf("%d requests sent without a URL", c)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// syncBuffer is a bytes.Buffer safe for the notifier's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
