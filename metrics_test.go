package certctl_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/certctl/certctl"
	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/internal/acmetest"
)

// gather returns the metrics of reg by family name.
func gather(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// label returns the value of label name of m.
func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// The served metrics report the serial and expiry actually served, the
// handshakes per name and the handshakes for unknown names.
func TestManager_Metrics_ReportWhatIsServed(t *testing.T) {
	e := newFacadeEnv(t, acmetest.Options{})
	reg := prometheus.NewRegistry()
	cfg := e.config()
	cfg.Metrics = reg
	m, err := certctl.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	addr := serveTLS(t, m, e.tlsAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := m.Manage(ctx, "metrics.example"); err != nil {
		t.Fatal(err)
	}
	var serial string
	for range 3 {
		serial = mustHandshake(t, e, addr, "metrics.example")
	}
	if _, err := e.handshake(addr, "unknown.example"); err == nil {
		t.Fatal("handshake for an unknown name succeeded")
	}
	fams := gather(t, reg)
	info := fams["certctl_served_certificate_info"]
	if info == nil || len(info.Metric) != 1 || label(info.Metric[0], "name") != "metrics.example" || label(info.Metric[0], "serial") != serial {
		t.Fatalf("served info = %v, want metrics.example serial %s", info, serial)
	}
	if na := fams["certctl_served_certificate_not_after_timestamp_seconds"]; na == nil || na.Metric[0].GetGauge().GetValue() < float64(time.Now().Unix()) {
		t.Fatalf("served not_after = %v", na)
	}
	hs := fams["certctl_served_handshakes_total"]
	if hs == nil || len(hs.Metric) != 1 || label(hs.Metric[0], "name") != "metrics.example" || hs.Metric[0].GetCounter().GetValue() < 3 {
		t.Fatalf("handshakes = %v, want at least 3 for metrics.example", hs)
	}
	if miss := fams["certctl_served_unknown_name_total"]; miss == nil || miss.Metric[0].GetCounter().GetValue() != 1 {
		t.Fatalf("unknown-name misses = %v, want 1", miss)
	}
	if st := fams["certctl_certificate_not_after_timestamp_seconds"]; st == nil {
		t.Fatal("the store's metrics (renew.Metrics) are not registered")
	}
	// Close unregisters: a new Manager registers on the same registry.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2, err := certctl.New(cfg)
	if err != nil {
		t.Fatalf("New after Close on the same registry: %v", err)
	}
	_ = m2.Close()
}

// Bad configurations and calls fail with a clear error, before anything
// runs; a closed Manager refuses work.
func TestNew_BadConfig(t *testing.T) {
	e := newFacadeEnv(t, acmetest.Options{})
	for _, c := range []struct {
		name string
		mod  func(*certctl.Config)
		want error
	}{
		{"challenge", func(c *certctl.Config) { c.Challenge = "dns-01" }, acme.ErrBadChallenge},
		{"key type", func(c *certctl.Config) { c.KeyType = "dsa" }, acme.ErrBadKeyType},
		{"directory", func(c *certctl.Config) { c.Directory = "ftp://x" }, acme.ErrBadDirectory},
	} {
		cfg := e.config()
		c.mod(cfg)
		if m, err := certctl.New(cfg); !errors.Is(err, c.want) {
			if m != nil {
				_ = m.Close()
			}
			t.Errorf("%s: New = %v, want %v", c.name, err, c.want)
		}
	}
	m, err := certctl.New(e.config())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := m.Manage(ctx, "*.wild.example"); !errors.Is(err, acme.ErrBadDomain) {
		t.Errorf("Manage(wildcard) = %v, want ErrBadDomain", err)
	}
	if err := m.Manage(ctx, "not a name"); !errors.Is(err, acme.ErrBadDomain) {
		t.Errorf("Manage(bad name) = %v, want ErrBadDomain", err)
	}
	if err := m.Manage(ctx, "ip.example", "127.0.0.1"); !errors.Is(err, acme.ErrBadDomain) {
		t.Errorf("Manage(IP address) = %v, want ErrBadDomain", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Manage(ctx, "late.example"); !errors.Is(err, certctl.ErrClosed) {
		t.Errorf("Manage after Close = %v, want ErrClosed", err)
	}
	if e.srv.Orders() != 0 {
		t.Fatalf("%d orders", e.srv.Orders())
	}
}
