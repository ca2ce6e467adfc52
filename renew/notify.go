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
	"slices"
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
	NotifyIssued        NotifyEvent = "issued"         // a new certificate's first version became active
	NotifyRenewed       NotifyEvent = "renewed"        // a renewed version became active
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

// Notification is the JSON body POSTed to a webhook (and what an email
// tells, see [Mail]):
//
//	{"event": "renewal_failed", "name": "www", "domains": ["www.example"],
//	 "error": "...", "not_after": "2030-01-02T03:04:05Z", "time": "..."}
//
// error is omitted when empty and not_after when zero; domains is always a
// list.
type Notification struct {
	// Event is NotifyRenewalFailed, NotifyExpiring, NotifyIssued,
	// NotifyRenewed or another event name.
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

// Notifier sends notifications in the background, to a webhook (URL) and by
// email (Mail): Notify never blocks. Each destination has its own bounded
// queue and worker, so a slow mail server does not hold up the webhook, nor
// the other way round (when a queue is full its oldest notification is
// dropped, and logged). A webhook gets each notification POSTed as JSON; an
// email is a plain-text message (see [Mail]). Deliveries are retried with
// exponential backoff (Backoff, doubling) on network errors, on 408, 429 and
// 5xx HTTP answers (honouring a Retry-After in seconds) and on temporary
// (4xx) SMTP answers, up to MaxAttempts attempts; other failures are not
// retried. Failures are logged, never returned. Close delivers what is
// pending, then stops.
//
// Fields must be set before the first Notify; zero values are documented per
// field. A Notifier is safe for concurrent use.
type Notifier struct {
	// URL receives the POSTs. "" means no webhook.
	URL string
	// Client sends them. Nil means an http.Client with default settings.
	// Each attempt is also bounded to 30 seconds.
	Client *http.Client
	// Mail, if set, also sends each notification as an email. It must pass
	// [Mail.Check].
	Mail *Mail
	// Events are the events sent; others are discarded. Nil means every
	// event but the successes ([NotifyIssued], [NotifyRenewed]).
	Events []NotifyEvent
	// Logger receives delivery failures and drops. Nil discards them.
	Logger *slog.Logger
	// Backoff is the wait before the first retry, doubled for each next
	// one. Zero means [DefaultNotifyBackoff] (1s).
	Backoff time.Duration
	// MaxAttempts bounds the attempts per notification. Zero means
	// [DefaultNotifyAttempts] (5).
	MaxAttempts int
	// QueueSize bounds the notifications waiting, per destination. Zero
	// means [DefaultNotifyQueue] (256).
	QueueSize int

	once  sync.Once
	lanes []*lane
}

// lane is one destination of a Notifier: its queue and worker.
type lane struct {
	n *Notifier
	// via names the destination in logs: "webhook" or "email".
	via string
	// send makes one attempt; it reports whether a failure may be retried,
	// and the server's Retry-After.
	send func(ctx context.Context, x Notification) (retryAfter time.Duration, retry bool, err error)

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

// init starts a worker per destination, once.
func (n *Notifier) init() {
	n.once.Do(func() {
		if n.URL != "" {
			n.lanes = append(n.lanes, &lane{n: n, via: "webhook", send: n.post})
		}
		if n.Mail != nil {
			n.lanes = append(n.lanes, &lane{n: n, via: "email", send: n.Mail.send})
		}
		for _, l := range n.lanes {
			l.wake = make(chan struct{}, 1)
			l.done = make(chan struct{})
			l.stop, l.cancel = context.WithCancel(context.Background())
			go l.run()
		}
	})
}

func (n *Notifier) log() *slog.Logger {
	if n.Logger != nil {
		return n.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// wants reports whether event e is sent.
func (n *Notifier) wants(e NotifyEvent) bool {
	if n.Events == nil {
		return e != NotifyIssued && e != NotifyRenewed
	}
	return slices.Contains(n.Events, e)
}

// Notify queues x for delivery and returns at once. Time is set to now when
// zero. After Close, with neither URL nor Mail, or for an event not in
// Events, x is discarded.
func (n *Notifier) Notify(x Notification) {
	if (n.URL == "" && n.Mail == nil) || !n.wants(x.Event) {
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
	for _, l := range n.lanes {
		l.add(x, size)
	}
}

// add queues x, dropping the oldest when size are waiting.
func (l *lane) add(x Notification, size int) {
	log := l.n.log()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		log.Warn("notification dropped: notifier closed", "via", l.via, "event", x.Event, "name", x.Name)
		return
	}
	var dropped *Notification
	if len(l.queue) >= size {
		old := l.queue[0]
		dropped = &old
		l.queue[0] = Notification{}
		l.queue = l.queue[1:]
	}
	l.queue = append(l.queue, x)
	l.mu.Unlock()
	if dropped != nil {
		log.Warn("notification dropped: queue full", "via", l.via, "event", dropped.Event, "name", dropped.Name, "queue", size)
	}
	l.poke()
}

// poke wakes the worker.
func (l *lane) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Close stops accepting notifications, delivers (with retries) those
// pending, and returns nil once all were handled. If ctx is done first, the
// deliveries in progress are abandoned, the rest are dropped (and logged),
// and Close returns an error matching [ErrNotifierClosed] and ctx.Err().
// Calling Close again waits for the same end.
func (n *Notifier) Close(ctx context.Context) error {
	n.init()
	for _, l := range n.lanes {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		l.poke()
	}
	all := make(chan struct{})
	go func() {
		for _, l := range n.lanes {
			<-l.done
		}
		close(all)
	}()
	select {
	case <-all:
		return nil
	case <-ctx.Done():
	}
	left, lost := 0, 0
	for _, l := range n.lanes {
		l.cancel()
		<-l.done
		l.mu.Lock()
		left, lost = left+len(l.queue), lost+l.lost
		l.queue = nil
		l.mu.Unlock()
	}
	if left > 0 {
		n.log().Warn("notifications dropped: notifier closed", "count", left)
	}
	if left+lost == 0 {
		return nil
	}
	return fmt.Errorf("notifier: closing: %w: %w", ErrNotifierClosed, context.Cause(ctx))
}

// run delivers queued notifications until closed and drained, or stopped.
func (l *lane) run() {
	defer close(l.done)
	for {
		if l.stop.Err() != nil {
			return
		}
		l.mu.Lock()
		if len(l.queue) > 0 {
			x := l.queue[0]
			l.queue[0] = Notification{}
			l.queue = l.queue[1:]
			l.mu.Unlock()
			l.deliver(x)
			continue
		}
		closed := l.closed
		l.mu.Unlock()
		if closed {
			return
		}
		select {
		case <-l.wake:
		case <-l.stop.Done():
			return
		}
	}
}

// deliver sends x, retrying with backoff, and logs the outcome.
func (l *lane) deliver(x Notification) {
	n := l.n
	log := n.log().With("via", l.via, "event", x.Event, "name", x.Name)
	defer func() {
		if r := recover(); r != nil {
			log.Error("notification dropped: panic while sending", "panic", r)
		}
	}()
	backoff := n.Backoff
	if backoff <= 0 {
		backoff = DefaultNotifyBackoff
	}
	attempts := n.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultNotifyAttempts
	}
	abandon := func(attempt int, err error) {
		l.mu.Lock()
		l.lost++
		l.mu.Unlock()
		log.Error("notification dropped: notifier closed", "attempts", attempt, "err", err)
	}
	for attempt := 1; ; attempt++ {
		retryAfter, retry, err := l.send(l.stop, x)
		if err != nil && l.stop.Err() != nil {
			abandon(attempt, err)
			return
		}
		if err == nil {
			log.Debug("notification delivered", "attempts", attempt)
			return
		}
		if !retry || attempt >= attempts {
			log.Error("notification dropped: "+l.via+" failed", "attempts", attempt, "err", err)
			return
		}
		wait := backoff << (attempt - 1)
		if retryAfter > wait {
			wait = min(retryAfter, notifyMaxRetryAfter)
		}
		log.Warn(l.via+" failed, will retry", "attempt", attempt, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-l.stop.Done():
			t.Stop()
			abandon(attempt, err)
			return
		}
	}
}

// post POSTs x to the webhook once. It reports whether a failure may be
// retried, and the server's Retry-After.
func (n *Notifier) post(ctx context.Context, x Notification) (retryAfter time.Duration, retry bool, err error) {
	body, err := json.Marshal(x)
	if err != nil {
		return 0, false, fmt.Errorf("encoding: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, notifyAttemptTimeout)
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
