package certctl

import (
	"crypto/tls"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// served counts what a Manager serves and exports it (see [Manager]).
type served struct {
	m       *Manager
	enabled bool // count handshakes (Config.Metrics is set)

	certs    sync.Map // *tls.Certificate -> *atomic.Uint64, its name's counter
	mu       sync.Mutex
	byName   map[string]*atomic.Uint64 // handshakes per binding name
	refusals map[string]uint64
	misses   atomic.Uint64
}

var (
	descNotAfter = prometheus.NewDesc("certctl_served_certificate_not_after_timestamp_seconds",
		"Expiry of the certificate served under each name.", []string{"name"}, nil)
	descInfo = prometheus.NewDesc("certctl_served_certificate_info",
		"1 for the serial served under each name.", []string{"name", "serial"}, nil)
	descHandshakes = prometheus.NewDesc("certctl_served_handshakes_total",
		"Handshakes given each name's certificate.", []string{"name"}, nil)
	descMisses = prometheus.NewDesc("certctl_served_unknown_name_total",
		"Handshakes for a server name no certificate serves.", nil, nil)
	descRefused = prometheus.NewDesc("certctl_served_refused_total",
		"Certificates refused when swapping them in (expired, wrong names, bad chain...).", []string{"name"}, nil)
	descOnDemand = prometheus.NewDesc("certctl_on_demand_total",
		"Handshakes that asked for on-demand issuance, by outcome.", []string{"outcome"}, nil)
)

// hit counts a handshake served c.
func (s *served) hit(c *tls.Certificate) {
	if !s.enabled {
		return
	}
	if v, ok := s.certs.Load(c); ok {
		v.(*atomic.Uint64).Add(1)
		return
	}
	// A certificate not seen yet (the first handshake after a swap): find
	// its name, and forget the certificates no longer served, which the
	// map would otherwise keep alive for ever, one per renewal.
	name := ""
	current := make(map[*tls.Certificate]bool)
	for _, b := range s.m.binder.Bindings() {
		current[b.Certificate] = true
		if b.Certificate == c {
			name = b.Name
		}
	}
	s.certs.Range(func(k, _ any) bool {
		if !current[k.(*tls.Certificate)] {
			s.certs.Delete(k)
		}
		return true
	})
	s.mu.Lock()
	if s.byName == nil {
		s.byName = make(map[string]*atomic.Uint64)
	}
	ctr := s.byName[name]
	if ctr == nil {
		ctr = new(atomic.Uint64)
		s.byName[name] = ctr
	}
	s.mu.Unlock()
	v, _ := s.certs.LoadOrStore(c, ctr)
	v.(*atomic.Uint64).Add(1)
}

// refused is the binder's OnError: a certificate refused at a swap (name
// "" for a failed read of the store).
func (s *served) refused(name string, _ error) {
	s.mu.Lock()
	if s.refusals == nil {
		s.refusals = make(map[string]uint64)
	}
	s.refusals[name]++
	s.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (s *served) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNotAfter, descInfo, descHandshakes, descMisses, descRefused, descOnDemand} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *served) Collect(ch chan<- prometheus.Metric) {
	live := make(map[*tls.Certificate]bool)
	for _, b := range s.m.binder.Bindings() {
		live[b.Certificate] = true
		ch <- prometheus.MustNewConstMetric(descNotAfter, prometheus.GaugeValue, float64(b.NotAfter.Unix()), b.Name)
		ch <- prometheus.MustNewConstMetric(descInfo, prometheus.GaugeValue, 1, b.Name, b.Serial)
	}
	// Certificates no longer served keep their counts in their name's
	// counter; forget the certificates themselves.
	s.certs.Range(func(k, _ any) bool {
		if !live[k.(*tls.Certificate)] {
			s.certs.Delete(k)
		}
		return true
	})
	s.mu.Lock()
	for name, n := range s.byName {
		ch <- prometheus.MustNewConstMetric(descHandshakes, prometheus.CounterValue, float64(n.Load()), name)
	}
	for name, n := range s.refusals {
		ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(n), name)
	}
	s.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descMisses, prometheus.CounterValue, float64(s.misses.Load()))
	if o := s.m.od; o != nil {
		for outcome, n := range map[string]uint64{
			"obtained": o.obtained.Load(), "denied": o.denials.Load(), "rate_limited": o.limited.Load(),
			"backing_off": o.backingOff.Load(), "failed": o.failures.Load(), "invalid_name": o.invalid.Load(),
		} {
			ch <- prometheus.MustNewConstMetric(descOnDemand, prometheus.CounterValue, float64(n), outcome)
		}
	}
}
