package certctl_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certctl/certctl"
	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/internal/testpki"
	"github.com/certctl/certctl/store"
)

// logSignal is a slog.Handler that sends each record whose message is msg
// on ch (dropping it when ch is full), and discards the rest.
type logSignal struct {
	msg string
	ch  chan slog.Record
}

func (l *logSignal) Enabled(context.Context, slog.Level) bool { return true }
func (l *logSignal) Handle(_ context.Context, r slog.Record) error {
	if r.Message == l.msg {
		select {
		case l.ch <- r.Clone():
		default:
		}
	}
	return nil
}
func (l *logSignal) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logSignal) WithGroup(string) slog.Handler      { return l }

// intAttr returns the integer attribute key of r (-1 when absent).
func intAttr(r slog.Record, key string) int64 {
	n := int64(-1)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			n = a.Value.Int64()
			return false
		}
		return true
	})
	return n
}

// storeLeaf writes to the store at path a record for name whose new active
// version is leaf, signed by a test CA. A new record is managed with the
// env's CA and tls-alpn-01, and due for renewal now.
func storeLeaf(t *testing.T, e *facadeEnv, name string, leaf *testpki.Leaf) {
	t.Helper()
	ctx := t.Context()
	db, err := store.Open(e.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := db.Get(ctx, name)
	if err != nil {
		c = &store.Certificate{Name: name, Domains: []string{name}, KeyType: "ec256",
			Directory: e.srv.DirectoryURL(), Email: "ops@example.com", Challenge: store.Challenge{Type: "tls-alpn-01"}}
		c.Renewal.Next = time.Now() // due now: the renewal manager looks at it at once
	}
	c.AddVersion(store.Version{Seq: c.NextSeq(), Serial: leaf.Serial(), CertPEM: leaf.CertPEM(), ChainPEM: leaf.ChainPEM(),
		KeyPEM: leaf.KeyPEM(t), NotBefore: leaf.Cert.NotBefore, NotAfter: leaf.Cert.NotAfter, Issued: time.Now()})
	if err := db.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
}

// A renewal that fails while the served certificate is in the last tenth
// of its lifetime reports "expiring" as well as "failed", with the serial and
// expiry still served; one that fails earlier reports only "failed".
//
// The store holds two 10-hour certificates signed by a test CA, both due:
// late.example has 30 minutes left (5%), mid.example 3 hours (30%: due,
// since a lifetime under 10 days renews at half, but not in the last
// tenth). Their renewals fail at Pebble: nothing answers its tls-alpn-01
// validations.
func TestManager_Events_ExpiringWhenRenewalFailsInLastTenth(t *testing.T) {
	e := newFacadeEnv(t, acmetest.Options{})
	root := testpki.NewRoot(t, "expiring test root")
	now := time.Now()
	late := root.Issue(t, testpki.LeafSpec{Names: []string{"late.example"},
		NotBefore: now.Add(-9*time.Hour - 30*time.Minute), NotAfter: now.Add(30 * time.Minute)}, root)
	mid := root.Issue(t, testpki.LeafSpec{Names: []string{"mid.example"},
		NotBefore: now.Add(-7 * time.Hour), NotAfter: now.Add(3 * time.Hour)}, root)
	storeLeaf(t, e, "late.example", late)
	storeLeaf(t, e, "mid.example", mid)

	cfg := e.config()
	evs := events(cfg, 256)
	m, err := certctl.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	failed := map[string]bool{}
	var expiring []certctl.Event
	for !failed["late.example"] || !failed["mid.example"] || len(expiring) == 0 {
		select {
		case ev := <-evs:
			switch ev.Type {
			case certctl.EventFailed:
				if ev.Err == nil {
					t.Fatalf("failed event for %s without an error", ev.Name)
				}
				failed[ev.Name] = true
			case certctl.EventExpiring:
				expiring = append(expiring, ev)
			default:
				t.Fatalf("unexpected event %+v", ev)
			}
		case <-ctx.Done():
			t.Fatalf("failed %v, expiring %v: %v", failed, expiring, ctx.Err())
		}
	}
	// Close waits for the renewal manager: every event it emitted is in
	// the channel now.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for done := false; !done; {
		select {
		case ev := <-evs:
			if ev.Type == certctl.EventExpiring {
				expiring = append(expiring, ev)
			}
		default:
			done = true
		}
	}
	for _, ev := range expiring {
		if ev.Name != "late.example" {
			t.Fatalf("expiring event for %s, whose certificate has 30%% of its life left", ev.Name)
		}
		if ev.Serial != late.Serial() || !ev.NotAfter.Equal(late.Cert.NotAfter) || ev.Err == nil {
			t.Fatalf("expiring event %+v, want serial %s, not after %v and the renewal's error",
				ev, late.Serial(), late.Cert.NotAfter)
		}
	}
	if e.srv.Orders() == 0 {
		t.Fatal("no order reached the CA: the renewals did not fail there")
	}
}

// A certificate in the store that the binder must refuse (its leaf does not
// cover the record's name) is counted in certctl_served_refused_total for
// that name, and the certificate served before keeps being served.
func TestManager_Metrics_RefusedSwapCountedOldCertificateKept(t *testing.T) {
	e := newFacadeEnv(t, acmetest.Options{})
	reg := prometheus.NewRegistry()
	cfg := e.config()
	cfg.Metrics = reg
	synced := &logSignal{msg: "source synced", ch: make(chan slog.Record, 16)}
	cfg.Logger = slog.New(synced)
	cfg.Poll = 50 * time.Millisecond
	m, err := certctl.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	addr := serveTLS(t, m, e.tlsAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const name = "swap.example"
	if err := m.Manage(ctx, name); err != nil {
		t.Fatal(err)
	}
	served := mustHandshake(t, e, addr, name)
	if r := gather(t, reg)["certctl_served_refused_total"]; r != nil {
		t.Fatalf("refusals before any bad certificate: %v", r)
	}
	// Drain the passes so far: the one that refuses comes after the write.
	for done := false; !done; {
		select {
		case <-synced.ch:
		default:
			done = true
		}
	}

	root := testpki.NewRoot(t, "refused test root")
	wrong := root.Issue(t, testpki.LeafSpec{Names: []string{"other.example"}}, root)
	storeLeaf(t, e, name, wrong)
	for {
		var r slog.Record
		select {
		case r = <-synced.ch:
		case <-ctx.Done():
			t.Fatalf("no pass of the store's watch refused the certificate: %v", ctx.Err())
		}
		if intAttr(r, "failed") > 0 {
			break // the refusal was reported (OnError) before this record
		}
	}
	fams := gather(t, reg)
	ref := fams["certctl_served_refused_total"]
	if ref == nil || len(ref.Metric) != 1 || label(ref.Metric[0], "name") != name || ref.Metric[0].GetCounter().GetValue() != 1 {
		t.Fatalf("refusals = %v, want 1 for %s", ref, name)
	}
	info := fams["certctl_served_certificate_info"]
	if info == nil || len(info.Metric) != 1 || label(info.Metric[0], "serial") != served {
		t.Fatalf("served info = %v, want serial %s", info, served)
	}
	if s := mustHandshake(t, e, addr, name); s != served {
		t.Fatalf("serving %s after the refused swap, want the previous %s", s, served)
	}
}
