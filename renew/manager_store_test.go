package renew_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// failingStore is a renew.Store that fails every call with err while down
// is set, and records when Due was called then.
type failingStore struct {
	renew.Store
	err  error
	down atomic.Bool

	mu       sync.Mutex
	downDues []time.Time
}

func (f *failingStore) fail() error {
	if f.down.Load() {
		return f.err
	}
	return nil
}

func (f *failingStore) Due(ctx context.Context, before time.Time) ([]*store.Certificate, error) {
	if err := f.fail(); err != nil {
		f.mu.Lock()
		f.downDues = append(f.downDues, time.Now())
		f.mu.Unlock()
		return nil, err
	}
	return f.Store.Due(ctx, before)
}

func (f *failingStore) NextDue(ctx context.Context) (time.Time, bool, error) {
	if err := f.fail(); err != nil {
		return time.Time{}, false, err
	}
	return f.Store.NextDue(ctx)
}

func (f *failingStore) Get(ctx context.Context, name string) (*store.Certificate, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Store.Get(ctx, name)
}

func (f *failingStore) Put(ctx context.Context, c *store.Certificate) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.Store.Put(ctx, c)
}

func (f *failingStore) List(ctx context.Context) ([]*store.Certificate, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Store.List(ctx)
}

func (f *failingStore) Generation(ctx context.Context) (uint64, error) {
	if err := f.fail(); err != nil {
		return 0, err
	}
	return f.Store.Generation(ctx)
}

func (f *failingStore) dues() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.downDues...)
}

// logRecorder is a slog.Handler that keeps every record.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// count returns how many records at level have a message containing msg.
func (l *logRecorder) count(level slog.Level, msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.recs {
		if r.Level == level && strings.Contains(r.Message, msg) {
			n++
		}
	}
	return n
}

// gauge reads the value of the unlabelled gauge name from reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s in %v", name, fams)
	return 0
}

// With fake time: while the store fails as unreachable (or busy), a running
// manager logs one error and reports one EventStoreDown, sets
// certctl_store_up to 0, retries its scans at 1 s doubling to 30 s (each
// wait at most a fifth shorter), never logs a renewal failure for the
// outage; when the store answers again it logs once at Info, sets the gauge
// to 1 and scans normally: the due certificate is tried, and the record is
// intact.
func TestManager_Run_StoreOutageSynctest(t *testing.T) {
	for _, cause := range []error{store.ErrUnreachable, store.ErrBusy} {
		t.Run(cause.Error(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { testStoreOutage(t, cause) })
		})
	}
}

func testStoreOutage(t *testing.T, cause error) {
	db, err := store.Open(filepath.Join(t.TempDir(), "certctl.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &store.Certificate{Name: "x.example", Domains: []string{"x.example"}, KeyType: "ec256",
		Directory: "https://127.0.0.1:1/dir", Challenge: store.Challenge{Type: "http-01"}}
	c.Renewal.Next = time.Now()
	if err := db.Put(ctx, c); err != nil {
		t.Fatal(err)
	}

	fs := &failingStore{Store: db, err: fmt.Errorf("store etcd://127.0.0.1:2379/certctl: reading: %w", cause)}
	fs.down.Store(true)
	logs := &logRecorder{}
	svc := &renew.Service{Store: fs, Logger: slog.New(logs)}
	metrics := renew.NewMetrics(svc)
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics)
	if v := gauge(t, reg, "certctl_store_up"); v != 1 {
		t.Fatalf("certctl_store_up before any scan = %v, want 1", v)
	}
	m := &renew.Manager{Service: svc, Schedule: "@every 1h", Notify: metrics.Observe}
	events, unsubscribe := m.Subscribe(256)
	defer unsubscribe()
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	// Two minutes of outage.
	start := time.Now()
	var downs, ups, other int
	outage := time.After(2 * time.Minute)
loop:
	for {
		select {
		case ev := <-events:
			switch ev.Type {
			case renew.EventStoreDown:
				downs++
				if !errors.Is(ev.Err, cause) {
					t.Fatalf("EventStoreDown error %v, want %v", ev.Err, cause)
				}
			case renew.EventStoreUp:
				ups++
			default:
				other++
			}
		case <-outage:
			break loop
		}
	}
	if downs != 1 || ups != 0 || other != 0 {
		t.Fatalf("during the outage: %d store_down, %d store_up, %d other events; want 1, 0, 0", downs, ups, other)
	}
	if m.StoreUp() {
		t.Fatal("StoreUp() during the outage")
	}
	if v := gauge(t, reg, "certctl_store_up"); v != 0 {
		t.Fatalf("certctl_store_up during the outage = %v, want 0", v)
	}
	if n := logs.count(slog.LevelError, "store unavailable"); n != 1 {
		t.Fatalf("%d error lines about the store, want 1", n)
	}
	if n := logs.count(slog.LevelError, ""); n != 1 {
		t.Fatalf("%d error lines in all during the outage, want 1", n)
	}

	// Attempts at 0, 1, 3, 7, 15, 31, 61, 91 s (each wait up to a fifth
	// shorter, never under a second): 8 to 10 in two minutes.
	dues := fs.dues()
	if len(dues) < 8 || len(dues) > 10 {
		at := make([]time.Duration, 0, len(dues))
		for _, d := range dues[:min(len(dues), 20)] {
			at = append(at, d.Sub(start))
		}
		t.Fatalf("%d scans in two minutes of outage, want 8 to 10; the first at %v", len(dues), at)
	}
	if dues[0] != start {
		t.Fatalf("first scan at %v, want at once", dues[0].Sub(start))
	}
	for i := 1; i < len(dues); i++ {
		gap := dues[i].Sub(dues[i-1])
		want := min(renew.StoreRetryMin<<(i-1), renew.StoreRetryMax)
		if gap > want || gap < max(want*4/5, time.Second) {
			t.Fatalf("wait %d = %v, want %v..%v", i, gap, max(want*4/5, time.Second), want)
		}
	}

	// The store returns: the next retry finds it, logs once, and the
	// manager scans normally (the due certificate is tried).
	fs.down.Store(false)
	var failed bool
	for !failed {
		select {
		case ev := <-events:
			switch ev.Type {
			case renew.EventStoreUp:
				ups++
			case renew.EventStoreDown:
				t.Fatal("store_down after the store returned")
			case renew.EventFailed:
				if ev.Name != c.Name || !errors.Is(ev.Result.Err, renew.ErrNoAccount) {
					t.Fatalf("after the outage: %+v", ev)
				}
				failed = true
			}
		case <-time.After(time.Minute):
			t.Fatal("no renewal attempt within a minute of the store's return")
		}
	}
	if ups != 1 || !m.StoreUp() {
		t.Fatalf("%d store_up events (StoreUp %v), want 1", ups, m.StoreUp())
	}
	if v := gauge(t, reg, "certctl_store_up"); v != 1 {
		t.Fatalf("certctl_store_up after the outage = %v, want 1", v)
	}
	if n := logs.count(slog.LevelInfo, "store available again"); n != 1 {
		t.Fatalf("%d info lines about the store's return, want 1", n)
	}
	if n := logs.count(slog.LevelError, "store unavailable"); n != 1 {
		t.Fatalf("%d error lines about the store after its return, want 1", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	got, err := db.Get(context.Background(), c.Name)
	if err != nil || got.Domains[0] != "x.example" || got.Renewal.Attempts != 1 {
		t.Fatalf("record after the outage: %+v, %v", got, err)
	}
}
