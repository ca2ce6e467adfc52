package renew

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// NotifyEvent names what a [Notification] reports.
type NotifyEvent string

// The notification events sent by the renewal service.
const (
	NotifyRenewalFailed NotifyEvent = "renewal_failed" // a renewal attempt failed
	NotifyExpiring      NotifyEvent = "expiring"       // the last tenth of the lifetime began, unrenewed
)

// Notifier defaults, used for zero fields.
const (
	DefaultNotifyQueue    = 256
	DefaultNotifyAttempts = 5
	DefaultNotifyBackoff  = time.Second
)

const (
	// notifyAttemptTimeout bounds one POST, whatever the client's timeout.
	notifyAttemptTimeout = 30 * time.Second
	// notifyMaxRetryAfter caps a server's Retry-After.
	notifyMaxRetryAfter = 5 * time.Minute
)

// Notification is the JSON body POSTed to a webhook:
//
//	{"event": "renewal_failed", "name": "www", "domains": ["www.example"],
//	 "error": "...", "not_after": "2030-01-02T03:04:05Z", "time": "..."}
//
// error is omitted when empty and not_after when zero; domains is always a
// list.
type Notification struct {
	// Event is NotifyRenewalFailed, NotifyExpiring or another event name.
	Event NotifyEvent `json:"event"`
	// Name is the certificate's name.
	Name string `json:"name"`
	// Domains are the certificate's names.
	Domains []string `json:"domains"`
	// Error is the error that caused the notification, if any.
	Error string `json:"error,omitempty"`
	// NotAfter is when the active certificate expires, if there is one.
	NotAfter time.Time `json:"not_after,omitzero"`
	// Time is when the event happened; Notify sets it when zero.
	Time time.Time `json:"time"`
}

// Notifier posts notifications to a webhook URL in the background: Notify
// never blocks. Notifications wait in a bounded queue (when it is full the
// oldest is dropped, and logged); each is POSTed as JSON and retried with
// exponential backoff (Backoff, doubling) on network errors, 408, 429 and
// 5xx answers, honouring a Retry-After in seconds, up to MaxAttempts
// attempts; other answers are not retried. Failures are logged, never
// returned. Close delivers what is pending, then stops.
//
// Fields must be set before the first Notify; zero values are documented per
// field. A Notifier is safe for concurrent use.
type Notifier struct {
	// URL receives the POSTs. "" means notifications are discarded.
	URL string
	// Client sends them. Nil means an http.Client with default settings.
	// Each attempt is also bounded to 30 seconds.
	Client *http.Client
	// Logger receives delivery failures and drops. Nil discards them.
	Logger *slog.Logger
	// Backoff is the wait before the first retry, doubled for each next
	// one. Zero means [DefaultNotifyBackoff] (1s).
	Backoff time.Duration
	// MaxAttempts bounds the attempts per notification. Zero means
	// [DefaultNotifyAttempts] (5).
	MaxAttempts int
	// QueueSize bounds the notifications waiting. Zero means
	// [DefaultNotifyQueue] (256).
	QueueSize int

	once   sync.Once
	mu     sync.Mutex
	queue  []Notification
	closed bool
	lost   int           // deliveries abandoned when Close's ctx ended
	wake   chan struct{} // capacity 1: the queue changed or Close was called
	done   chan struct{} // closed when the worker returned
	stop   context.Context
	cancel context.CancelFunc
}

// NewNotifier returns a Notifier posting to url with client (nil means a
// default client) and logging to logger (nil discards).
func NewNotifier(url string, client *http.Client, logger *slog.Logger) *Notifier {
	return &Notifier{URL: url, Client: client, Logger: logger}
}

// init starts the worker once.
func (n *Notifier) init() {
	n.once.Do(func() {
		n.wake = make(chan struct{}, 1)
		n.done = make(chan struct{})
		n.stop, n.cancel = context.WithCancel(context.Background())
		go n.run()
	})
}

func (n *Notifier) log() *slog.Logger {
	if n.Logger != nil {
		return n.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Notify queues x for delivery and returns at once. Time is set to now when
// zero. After Close, or with an empty URL, x is discarded.
func (n *Notifier) Notify(x Notification) {
	if n.URL == "" {
		return
	}
	if x.Time.IsZero() {
		x.Time = time.Now()
	}
	if x.Domains == nil {
		x.Domains = []string{}
	} else {
		x.Domains = append([]string(nil), x.Domains...)
	}
	n.init()
	size := n.QueueSize
	if size <= 0 {
		size = DefaultNotifyQueue
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		n.log().Warn("notification dropped: notifier closed", "event", x.Event, "name", x.Name)
		return
	}
	var dropped *Notification
	if len(n.queue) >= size {
		old := n.queue[0]
		dropped = &old
		n.queue[0] = Notification{}
		n.queue = n.queue[1:]
	}
	n.queue = append(n.queue, x)
	n.mu.Unlock()
	if dropped != nil {
		n.log().Warn("notification dropped: queue full", "event", dropped.Event, "name", dropped.Name, "queue", size)
	}
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Close stops accepting notifications, delivers (with retries) those
// pending, and returns nil once all were handled. If ctx is done first, the
// delivery in progress is abandoned, the rest are dropped (and logged), and
// Close returns an error matching [ErrNotifierClosed] and ctx.Err(). Calling
// Close again waits for the same end.
func (n *Notifier) Close(ctx context.Context) error {
	n.init()
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
	select {
	case <-n.done:
		return nil
	case <-ctx.Done():
	}
	n.cancel()
	<-n.done
	n.mu.Lock()
	left, lost := len(n.queue), n.lost
	n.queue = nil
	n.mu.Unlock()
	if left > 0 {
		n.log().Warn("notifications dropped: notifier closed", "count", left)
	}
	if left+lost == 0 {
		return nil
	}
	return fmt.Errorf("notifier: closing: %w: %w", ErrNotifierClosed, context.Cause(ctx))
}

// run delivers queued notifications until closed and drained, or stopped.
func (n *Notifier) run() {
	defer close(n.done)
	for {
		if n.stop.Err() != nil {
			return
		}
		n.mu.Lock()
		if len(n.queue) > 0 {
			x := n.queue[0]
			n.queue[0] = Notification{}
			n.queue = n.queue[1:]
			n.mu.Unlock()
			n.deliver(x)
			continue
		}
		closed := n.closed
		n.mu.Unlock()
		if closed {
			return
		}
		select {
		case <-n.wake:
		case <-n.stop.Done():
			return
		}
	}
}

// deliver POSTs x, retrying with backoff, and logs the outcome.
func (n *Notifier) deliver(x Notification) {
	log := n.log().With("event", x.Event, "name", x.Name)
	defer func() {
		if r := recover(); r != nil {
			log.Error("notification dropped: panic while sending", "panic", r)
		}
	}()
	body, err := json.Marshal(x)
	if err != nil {
		log.Error("notification dropped: encoding", "err", err)
		return
	}
	backoff := n.Backoff
	if backoff <= 0 {
		backoff = DefaultNotifyBackoff
	}
	attempts := n.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultNotifyAttempts
	}
	for attempt := 1; ; attempt++ {
		retryAfter, retry, err := n.post(body)
		if err != nil && n.stop.Err() != nil {
			n.mu.Lock()
			n.lost++
			n.mu.Unlock()
			log.Error("notification dropped: notifier closed", "attempts", attempt, "err", err)
			return
		}
		if err == nil {
			log.Debug("notification delivered", "attempts", attempt)
			return
		}
		if !retry || attempt >= attempts {
			log.Error("notification dropped: webhook failed", "attempts", attempt, "err", err)
			return
		}
		wait := backoff << (attempt - 1)
		if retryAfter > wait {
			wait = min(retryAfter, notifyMaxRetryAfter)
		}
		log.Warn("webhook failed, will retry", "attempt", attempt, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-n.stop.Done():
			t.Stop()
			n.mu.Lock()
			n.lost++
			n.mu.Unlock()
			log.Error("notification dropped: notifier closed", "attempts", attempt, "err", err)
			return
		}
	}
}

// post sends one attempt. It reports whether a failure may be retried, and
// the server's Retry-After.
func (n *Notifier) post(body []byte) (retryAfter time.Duration, retry bool, err error) {
	ctx, cancel := context.WithTimeout(n.stop, notifyAttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(body))
	if err != nil {
		return 0, false, n.scrub(fmt.Errorf("webhook %s: %w", RedactURL(n.URL), err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "certctl")
	client := n.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = RedactURL(ue.URL)
		}
		return 0, true, n.scrub(fmt.Errorf("webhook: %w", err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, false, nil
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	retry = resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests ||
		resp.StatusCode >= 500
	return retryAfter, retry, fmt.Errorf("webhook %s: %s", RedactURL(n.URL), resp.Status)
}

// RedactURL returns the part of a webhook URL that may be logged: its
// scheme and host, followed by "/…" when it has a path beyond "/", a query
// or a fragment. User info is dropped. A webhook URL is a secret (Slack's and
// most chat services' carry their token in the path), and Go's HTTP errors
// quote the URL whole. An unparsable URL gives "(invalid URL)", "" gives "".
func RedactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	out := u.Scheme + "://" + u.Host
	switch {
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.RawPath != "":
		return out + "/…"
	case u.Path == "/":
		return out + "/"
	}
	return out
}

// scrub wraps err so that its message holds none of the URL's secret parts
// (path, query, user info), in whatever form an error quotes them; the
// error chain is kept.
func (n *Notifier) scrub(err error) error {
	u, perr := url.Parse(n.URL)
	pairs := []string{n.URL, RedactURL(n.URL)}
	if perr == nil {
		red := RedactURL(n.URL)
		pairs = append(pairs, u.String(), red, u.Redacted(), red)
		for _, part := range []string{u.EscapedPath(), u.Path, u.RawQuery, u.User.String(), u.User.Username()} {
			if len(part) > 1 {
				pairs = append(pairs, part, "…")
			}
		}
		if p, ok := u.User.Password(); ok && p != "" {
			pairs = append(pairs, p, "…")
		}
	}
	return scrubbedError{err: err, r: strings.NewReplacer(pairs...)}
}

// scrubbedError is an error whose message passes through a replacer.
type scrubbedError struct {
	err error
	r   *strings.Replacer
}

func (e scrubbedError) Error() string { return e.r.Replace(e.err.Error()) }
func (e scrubbedError) Unwrap() error { return e.err }
