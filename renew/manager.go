package renew

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/certctl/certctl/store"
)

// EventType says what an [Event] reports.
type EventType string

// The event types reported to subscribers.
const (
	EventRenewed EventType = "renewed" // a new version is active
	EventFailed  EventType = "failed"  // a renewal attempt failed
	EventSkipped EventType = "skipped" // looked at, not due
	EventScan    EventType = "scan"    // a scan finished
	// EventStoreDown reports that the store became unreachable or busy
	// (once per outage; Err says why); EventStoreUp that it answers again.
	EventStoreDown EventType = "store_down"
	EventStoreUp   EventType = "store_up"
)

// Event is one thing the [Manager] did.
type Event struct {
	Type   EventType
	Name   string
	Result Result
	Time   time.Time
	// Err is the store's error, for EventStoreDown.
	Err error
}

// While the store is unreachable or busy, the manager retries after
// StoreRetryMin, doubling up to StoreRetryMax (each wait up to a fifth
// shorter, at random, so a fleet does not return in step).
const (
	StoreRetryMin = time.Second
	StoreRetryMax = 30 * time.Second
)

// BusyRetry is the shortest wait before a [Manager] looks again at a
// certificate it skipped because another certctl held its lock (a command
// renewing it, another fleet member): that holder usually renews it
// meanwhile.
const BusyRetry = 10 * time.Second

// DefaultSchedule is how often a Manager scans when Schedule is empty.
const DefaultSchedule = "@every 10m"

// Manager renews certificates unattended: a cron schedule sets how often it
// scans the store for due certificates, and it also wakes at the earliest
// due time, so short-lived certificates renew on time whatever the
// schedule. Renewals run through its Service, which locks each certificate
// across processes. Set the fields, then call Run once.
type Manager struct {
	// Service renews. Required.
	Service *Service
	// Schedule is a cron spec (5 fields, or descriptors like "@every 5m",
	// "@hourly"). Empty means DefaultSchedule.
	Schedule string
	// Logger receives the manager's logs. Nil means the Service's logger.
	Logger *slog.Logger
	// MinInterval is the shortest pause between two scans. Zero means one
	// second.
	MinInterval time.Duration
	// Notify, if set, receives every event synchronously, before
	// subscribers; it must not block for long.
	Notify func(Event)
	// ShutdownGrace is how long renewals in flight may go on after Run's
	// context is done before they are cancelled. Zero cancels at once.
	ShutdownGrace time.Duration

	mu     sync.Mutex
	subs   map[chan Event]struct{}
	poke   chan struct{}
	once   sync.Once
	lastMu sync.Mutex
	last   time.Time
	// storeFails counts the store failures in a row (0: the store is up);
	// guarded by lastMu.
	storeFails int
	storeSince time.Time // when the current outage began
}

// StoreUp reports whether the store answered the manager's last access.
func (m *Manager) StoreUp() bool {
	m.lastMu.Lock()
	defer m.lastMu.Unlock()
	return m.storeFails == 0
}

// storeDown reports whether err means the store cannot be used for now
// (unreachable, or held by another process too long), rather than a
// problem with a record.
func storeDown(err error) bool {
	return errors.Is(err, store.ErrUnreachable) || errors.Is(err, store.ErrBusy)
}

// storeFailed records a failed access to the store; the first of an outage
// is logged and reported.
func (m *Manager) storeFailed(err error) {
	m.lastMu.Lock()
	m.storeFails++
	first := m.storeFails == 1
	if first {
		m.storeSince = time.Now()
	}
	m.lastMu.Unlock()
	if first {
		// Report before logging: whoever reads the log line sees the state.
		m.emit(Event{Type: EventStoreDown, Time: m.Service.now(), Err: err})
		m.log().Error("store unavailable; serving what is loaded and retrying with back-off", "err", err)
	}
}

// storeOK records a successful access to the store; the first after an
// outage is logged and reported.
func (m *Manager) storeOK() {
	m.lastMu.Lock()
	was := m.storeFails
	since := m.storeSince
	m.storeFails = 0
	m.lastMu.Unlock()
	if was > 0 {
		m.emit(Event{Type: EventStoreUp, Time: m.Service.now()})
		m.log().Info("store available again", "down_for", time.Since(since).Round(time.Millisecond), "attempts", was)
	}
}

// StoreRetry is the wait after the n-th store failure in a row (n >= 1):
// [StoreRetryMin] doubling up to [StoreRetryMax], less up to a fifth at
// random.
func StoreRetry(n int) time.Duration {
	d := StoreRetryMax
	if n-1 < 6 {
		d = min(StoreRetryMin<<(n-1), StoreRetryMax)
	}
	return d - rand.N(d/5+1)
}

// ParseSchedule checks a cron spec the way Run will use it. A spec that
// robfig/cron's parser panics on ("TZ=" without a schedule) or that never
// fires ("0 0 30 2 *") is an error.
func ParseSchedule(spec string) (sch cron.Schedule, err error) {
	if spec == "" {
		spec = DefaultSchedule
	}
	defer func() {
		if r := recover(); r != nil {
			sch, err = nil, fmt.Errorf("schedule %q: %w", spec, ErrBadSchedule)
		}
	}()
	sch, err = cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w: %v", spec, ErrBadSchedule, err)
	}
	if sch.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("schedule %q: %w: it never fires", spec, ErrBadSchedule)
	}
	return sch, nil
}

func (m *Manager) init() {
	m.once.Do(func() {
		m.subs = make(map[chan Event]struct{})
		m.poke = make(chan struct{}, 1)
	})
}

func (m *Manager) log() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return m.Service.log()
}

// Subscribe returns a channel of events with room for buf of them, and a
// function that ends the subscription. A subscriber that falls behind
// loses events rather than slowing renewals.
func (m *Manager) Subscribe(buf int) (<-chan Event, func()) {
	m.init()
	ch := make(chan Event, max(buf, 1))
	m.mu.Lock()
	m.subs[ch] = struct{}{}
	m.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			m.mu.Lock()
			delete(m.subs, ch)
			m.mu.Unlock()
			close(ch)
		})
	}
}

func (m *Manager) emit(e Event) {
	if m.Notify != nil {
		m.Notify(e)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for ch := range m.subs {
		select {
		case ch <- e:
		default:
			m.log().Warn("event subscriber is behind; event dropped", "event", e.Type, "name", e.Name)
		}
	}
}

// ScanNow asks a running manager to scan at once (SIGHUP in the daemon).
func (m *Manager) ScanNow() {
	m.init()
	select {
	case m.poke <- struct{}{}:
	default:
	}
}

// LastScan returns when the last scan finished.
func (m *Manager) LastScan() time.Time {
	m.lastMu.Lock()
	defer m.lastMu.Unlock()
	return m.last
}

// Run scans until ctx is done, then waits for running renewals to return
// (they are cancelled through ctx) and stops the schedule.
func (m *Manager) Run(ctx context.Context) error {
	m.init()
	if m.Service == nil || m.Service.Store == nil {
		return errors.New("renew manager: no service or store")
	}
	if _, err := ParseSchedule(m.Schedule); err != nil {
		return err
	}
	spec := m.Schedule
	if spec == "" {
		spec = DefaultSchedule
	}
	logger := m.log()
	c := cron.New(cron.WithLogger(cronLogger{logger}), cron.WithChain(cron.Recover(cronLogger{logger})))
	if _, err := c.AddFunc(spec, m.ScanNow); err != nil {
		return fmt.Errorf("schedule %q: %w", spec, err)
	}
	c.Start()
	defer func() { <-c.Stop().Done() }()

	// Renewals run under work, which outlives ctx by ShutdownGrace so an
	// order in flight can finish instead of being abandoned half-way.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopGrace := context.AfterFunc(ctx, func() {
		if m.ShutdownGrace <= 0 {
			cancelWork()
			return
		}
		time.AfterFunc(m.ShutdownGrace, cancelWork)
	})
	defer stopGrace()

	minGap := m.MinInterval
	if minGap <= 0 {
		minGap = time.Second
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-m.poke:
		}
		started := time.Now()
		next, ok, busy, storeErr := m.scan(work)
		if ctx.Err() != nil {
			return nil
		}
		wait := time.Until(next)
		if !ok {
			wait = 24 * time.Hour // the cron schedule pokes long before
		}
		if busy {
			// A skipped certificate stays due: do not come back for it at once.
			wait = max(wait, BusyRetry)
		}
		if storeErr != nil {
			m.storeFailed(storeErr)
			m.lastMu.Lock()
			n := m.storeFails
			m.lastMu.Unlock()
			wait = StoreRetry(n)
		}
		wait = max(wait, minGap-time.Since(started))
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(max(wait, 0))
	}
}

// scan renews what is due and returns the next due time, and whether it
// skipped a certificate whose lock another certctl held (busy). When the
// store is unreachable or busy it returns that error as storeErr (not
// logged: Run logs outages once) and the caller retries with back-off.
func (m *Manager) scan(ctx context.Context) (next time.Time, ok, busy bool, storeErr error) {
	defer func() {
		if r := recover(); r != nil {
			m.log().Error("scan panicked", "panic", r, "stack", string(debug.Stack()))
			next, ok, busy, storeErr = time.Now().Add(time.Minute), true, false, nil
		}
	}()
	s := m.Service
	now := s.now()
	due, err := s.Store.Due(ctx, now)
	if storeDown(err) {
		return time.Time{}, false, false, err
	}
	if err != nil {
		m.log().Error("scan: listing due certificates", "err", err)
		return now.Add(time.Minute), true, false, nil
	}
	m.storeOK()
	if len(due) > 0 {
		names := make([]string, len(due))
		for i, c := range due {
			names[i] = c.Name
		}
		m.log().Info("scan", "due", len(names))
		results, err := s.renewMany(ctx, names, false, true)
		if err != nil {
			m.log().Error("scan: renewing", "err", err)
		}
		for _, r := range results {
			typ := EventSkipped
			switch r.Action {
			case ActionRenewed, ActionIssued:
				typ = EventRenewed
			case ActionBusy:
				busy = true
				m.log().Info("skipped: another certctl holds its lock; looking again later", "name", r.Name)
			case ActionFailed:
				typ = EventFailed
				if ctx.Err() != nil {
					continue
				}
				if storeDown(r.Err) {
					// Logged once for the outage, by Run.
					storeErr = r.Err
					break
				}
				m.log().Error("renewal failed", "name", r.Name, "err", r.Err)
			}
			if r.DeployErr != nil {
				m.log().Error("deploying renewed certificate failed", "name", r.Name, "err", r.DeployErr)
			}
			m.emit(Event{Type: typ, Name: r.Name, Result: r, Time: s.now()})
		}
	}
	m.lastMu.Lock()
	m.last = s.now()
	m.lastMu.Unlock()
	m.emit(Event{Type: EventScan, Time: s.now()})
	if storeErr != nil {
		return time.Time{}, false, busy, storeErr
	}
	at, ok, err := s.Store.NextDue(ctx)
	if storeDown(err) {
		return time.Time{}, false, busy, err
	}
	if err != nil {
		m.log().Error("scan: next due", "err", err)
		return s.now().Add(time.Minute), true, busy, nil
	}
	if ok {
		m.log().Info("scan done", "due", len(due), "next", at)
	} else {
		m.log().Info("scan done", "due", len(due))
	}
	return at, ok, busy, nil
}

// cronLogger adapts slog to cron's logger.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}

// compile-time check that the bbolt store satisfies what renew needs.
var _ store.Store = (*store.DB)(nil)
