package renew

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certctl/certctl/store"
)

// TestMetrics_Cache_KeepsNoPEMAndSameSeries checks that the records the
// metrics keep between scrapes hold no certificate or key PEM, and that
// the series computed from them are those of the full records.
func TestMetrics_Cache_KeepsNoPEMAndSameSeries(t *testing.T) {
	ctx := t.Context()
	db, err := store.Open(filepath.Join(t.TempDir(), "certctl.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	c := &store.Certificate{Name: "m.example", Domains: []string{"m.example"}, KeyType: "ec256",
		Directory: "https://127.0.0.1:1/dir", Challenge: store.Challenge{Type: "http-01"}}
	for seq := 1; seq <= 3; seq++ {
		c.AddVersion(store.Version{Seq: seq, Serial: "0a", CertPEM: []byte("cert"), ChainPEM: []byte("chain"),
			KeyPEM: []byte("key"), NotBefore: now.Add(-time.Duration(4-seq) * time.Hour),
			NotAfter: now.Add(time.Duration(seq) * 24 * time.Hour)})
	}
	c.ARI = store.ARIState{WindowStart: now.Add(time.Hour), WindowEnd: now.Add(2 * time.Hour), Chosen: now.Add(90 * time.Minute), Fetched: now}
	c.Renewal = store.RenewalState{Next: now.Add(90 * time.Minute), Attempts: 2, LastError: "boom"}
	if err := db.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	svc := &Service{Store: db, Now: func() time.Time { return now }}
	m := NewMetrics(svc)
	got := gather(t, m)

	m.mu.Lock()
	cache := m.cache
	m.mu.Unlock()
	if len(cache) != 1 || len(cache[0].Versions) != 1 {
		t.Fatalf("metrics cache = %+v, want one record with its active version only", cache)
	}
	if v := cache[0].Versions[0]; v.CertPEM != nil || v.ChainPEM != nil || v.KeyPEM != nil || v.SealedKey != nil {
		t.Fatalf("metrics cache keeps PEM: %+v", v)
	}

	// The series of the full record, computed the same way.
	d := svc.Policy.Decide(c, now)
	st := StatusOf(c, d, now)
	v := c.ActiveVersion()
	want := map[string]float64{
		"certctl_certificate_not_after_timestamp_seconds":    unix(v.NotAfter),
		"certctl_certificate_not_before_timestamp_seconds":   unix(v.NotBefore),
		"certctl_certificate_next_renewal_timestamp_seconds": unix(d.At),
		"certctl_certificate_consecutive_failures":           2,
		"certctl_certificate_status/" + string(st):           1,
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, w)
		}
	}
}

// gather collects m once and returns the per-certificate series by metric
// name (status series as name/status).
func gather(t *testing.T, m *Metrics) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			if mt.GetGauge() == nil {
				continue
			}
			key := mf.GetName()
			for _, l := range mt.GetLabel() {
				if l.GetName() == "status" {
					key += "/" + l.GetValue()
				}
			}
			out[key] = mt.GetGauge().GetValue()
		}
	}
	return out
}
