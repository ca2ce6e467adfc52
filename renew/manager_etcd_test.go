package renew_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certctl/certctl/internal/etcdtest"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// openEtcd opens a store on a fresh embedded etcd.
func openEtcd(t *testing.T) (*etcdtest.Server, store.Backend) {
	t.Helper()
	srv := etcdtest.StartT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := store.OpenURL(ctx, srv.StoreURL("certctl"), &store.Options{DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return srv, b
}

// A running manager on etcd survives etcd being stopped: it reports the
// store down once (certctl_store_up 0), retries, and when etcd is back it
// reports it up (gauge 1) and scans again; the record is intact.
func TestManager_Run_EtcdOutage(t *testing.T) {
	srv, b := openEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := &store.Certificate{Name: "x.example", Domains: []string{"x.example"}, KeyType: "ec256",
		Directory: "https://127.0.0.1:1/dir", Challenge: store.Challenge{Type: "http-01"}}
	c.Renewal.Next = time.Now().Add(24 * time.Hour) // not due: scans only read
	if err := b.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	logs := &logRecorder{}
	svc := &renew.Service{Store: b}
	metrics := renew.NewMetrics(svc)
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics)
	m := &renew.Manager{Service: svc, Schedule: "@every 1h", Notify: metrics.Observe, Logger: slog.New(logs)}
	events, unsubscribe := m.Subscribe(256)
	defer unsubscribe()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx) }()
	wait := func(typ renew.EventType) renew.Event {
		t.Helper()
		for {
			select {
			case ev := <-events:
				if ev.Type == typ {
					return ev
				}
			case <-ctx.Done():
				t.Fatalf("no %s event: %v", typ, ctx.Err())
			}
		}
	}
	wait(renew.EventScan)

	srv.Stop()
	m.ScanNow()
	ev := wait(renew.EventStoreDown)
	if !errors.Is(ev.Err, store.ErrUnreachable) {
		t.Fatalf("store down with %v, want store.ErrUnreachable", ev.Err)
	}
	if v := gauge(t, reg, "certctl_store_up"); v != 0 {
		t.Fatalf("certctl_store_up with etcd stopped = %v", v)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	wait(renew.EventStoreUp)
	wait(renew.EventScan)
	if v := gauge(t, reg, "certctl_store_up"); v != 1 {
		t.Fatalf("certctl_store_up after etcd returned = %v", v)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := logs.count(slog.LevelError, "store unavailable"); n != 1 {
		t.Fatalf("%d lines about the store going down, want 1", n)
	}
	got, err := b.Get(ctx, c.Name)
	if err != nil || got.Revision != c.Revision || got.Domains[0] != "x.example" {
		t.Fatalf("record after the outage: %+v, %v", got, err)
	}
}
