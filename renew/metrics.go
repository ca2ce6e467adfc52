package renew

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certctl/certctl/store"
)

// Metrics exposes certctl's Prometheus metrics (prefix certctl_): per
// certificate validity, next renewal, status and failures, read from the
// store at scrape time (cached until the store changes, so the series of a
// removed certificate disappear), plus counters of renewals and ACME
// requests, a renewal duration histogram, the last scan time and whether
// the store is up (certctl_store_up). While the store is down the per
// certificate series are served from the last successful read. Register
// it with a prometheus.Registerer; feed it with [Metrics.Observe] and
// [Metrics.Transport].
type Metrics struct {
	svc *Service

	renewals *prometheus.CounterVec
	requests *prometheus.CounterVec
	duration prometheus.Histogram
	lastScan prometheus.Gauge
	storeUp  prometheus.Gauge

	notAfter, notBefore, next, status, failures *prometheus.Desc

	mu        sync.Mutex
	cacheGen  uint64
	cache     []*store.Certificate
	loaded    bool
	storeDown bool // set by EventStoreDown, cleared by EventStoreUp
}

// NewMetrics returns the metrics of svc's store.
func NewMetrics(svc *Service) *Metrics {
	name := []string{"name"}
	m := &Metrics{
		svc: svc,
		renewals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "certctl_renewals_total",
			Help: "Renewal attempts by result (renewed, failed)."}, []string{"result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "certctl_acme_requests_total",
			Help: "HTTP requests to ACME CAs by outcome (ok, rate_limited, client_error, server_error, network_error)."}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "certctl_renewal_duration_seconds",
			Help: "Time spent obtaining a certificate.", Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}}),
		lastScan: prometheus.NewGauge(prometheus.GaugeOpts{Name: "certctl_last_scan_timestamp_seconds",
			Help: "Unix time the renewal manager last finished a scan."}),
		storeUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "certctl_store_up",
			Help: "1 when the store answered the renewal manager's last access, 0 while it is unreachable or busy."}),
		notAfter:  prometheus.NewDesc("certctl_certificate_not_after_timestamp_seconds", "Expiry of the active certificate.", name, nil),
		notBefore: prometheus.NewDesc("certctl_certificate_not_before_timestamp_seconds", "Start of validity of the active certificate.", name, nil),
		next:      prometheus.NewDesc("certctl_certificate_next_renewal_timestamp_seconds", "When the next renewal is due.", name, nil),
		status:    prometheus.NewDesc("certctl_certificate_status", "1 for the certificate's current status, 0 for the others.", []string{"name", "status"}, nil),
		failures:  prometheus.NewDesc("certctl_certificate_consecutive_failures", "Failed renewal attempts since the last success.", name, nil),
	}
	m.storeUp.Set(1)
	return m
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.renewals.Describe(ch)
	m.requests.Describe(ch)
	m.duration.Describe(ch)
	m.lastScan.Describe(ch)
	m.storeUp.Describe(ch)
	for _, d := range []*prometheus.Desc{m.notAfter, m.notBefore, m.next, m.status, m.failures} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.renewals.Collect(ch)
	m.requests.Collect(ch)
	m.duration.Collect(ch)
	m.lastScan.Collect(ch)
	m.storeUp.Collect(ch)
	certs, err := m.certificates()
	if err != nil {
		m.svc.log().Warn("metrics: reading store", "err", err)
		return
	}
	now := m.svc.now()
	for _, c := range certs {
		d := m.svc.Policy.Decide(c, now)
		st := StatusOf(c, d, now)
		if v := c.ActiveVersion(); v != nil {
			ch <- prometheus.MustNewConstMetric(m.notAfter, prometheus.GaugeValue, unix(v.NotAfter), c.Name)
			ch <- prometheus.MustNewConstMetric(m.notBefore, prometheus.GaugeValue, unix(v.NotBefore), c.Name)
		}
		ch <- prometheus.MustNewConstMetric(m.next, prometheus.GaugeValue, unix(d.At), c.Name)
		ch <- prometheus.MustNewConstMetric(m.failures, prometheus.GaugeValue, float64(c.Renewal.Attempts), c.Name)
		for _, s := range Statuses {
			v := 0.0
			if s == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(m.status, prometheus.GaugeValue, v, c.Name, string(s))
		}
	}
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// certificates returns the store's records, re-read only when its
// generation changed. While the store is down (or when reading it fails
// and an earlier read succeeded) it returns the last records read (none if
// there were none), without waiting for the store.
func (m *Metrics) certificates() ([]*store.Certificate, error) {
	m.mu.Lock()
	down, loaded, cacheGen, cache := m.storeDown, m.loaded, m.cacheGen, m.cache
	m.mu.Unlock()
	if down {
		return cache, nil
	}
	stale := func(err error) ([]*store.Certificate, error) {
		if !loaded {
			return nil, err
		}
		m.svc.log().Debug("metrics: reading store; serving the last records read", "err", err)
		return cache, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gen, err := m.svc.Store.Generation(ctx)
	if err != nil {
		return stale(err)
	}
	if loaded && gen == cacheGen {
		return cache, nil
	}
	certs, err := listViews(ctx, m.svc.Store)
	if err != nil {
		return stale(err)
	}
	m.mu.Lock()
	m.cache, m.cacheGen, m.loaded = certs, gen, true
	m.mu.Unlock()
	return certs, nil
}

// recordWalker is the optional capability of a store to visit its records
// one at a time (every store.Backend has it).
type recordWalker interface {
	Each(ctx context.Context, fn func(*store.Certificate) error) error
}

var _ recordWalker = store.Backend(nil)

// listViews returns the metricsView of every record of st, reading them
// one at a time when st can, so that a scrape never holds every full record
// at once (with 100,000 certificates that is hundreds of MB).
func listViews(ctx context.Context, st Store) ([]*store.Certificate, error) {
	if w, ok := st.(recordWalker); ok {
		var out []*store.Certificate
		err := w.Each(ctx, func(c *store.Certificate) error {
			out = append(out, metricsView(c))
			return nil
		})
		return out, err
	}
	certs, err := st.List(ctx)
	for i, c := range certs {
		certs[i] = metricsView(c)
	}
	return certs, err
}

// metricsView is what Collect reads of c, kept until the store changes:
// its name, renewal and ARI state and its active version without the PEM
// blocks and keys (about 1 KiB per certificate instead of the 2-3 KiB of
// each kept version's PEM; and no private key stays in memory for metrics).
func metricsView(c *store.Certificate) *store.Certificate {
	out := &store.Certificate{Name: c.Name, Active: c.Active, ARI: c.ARI, Renewal: c.Renewal, Revision: c.Revision}
	if v := c.ActiveVersion(); v != nil {
		a := *v
		a.CertPEM, a.ChainPEM, a.KeyPEM, a.SealedKey = nil, nil, nil, nil
		out.Versions = []store.Version{a}
	}
	return out
}

// Observe records a manager event.
func (m *Metrics) Observe(e Event) {
	switch e.Type {
	case EventStoreDown, EventStoreUp:
		up := e.Type == EventStoreUp
		m.mu.Lock()
		m.storeDown = !up
		m.mu.Unlock()
		if up {
			m.storeUp.Set(1)
		} else {
			m.storeUp.Set(0)
		}
	case EventRenewed:
		m.renewals.WithLabelValues("renewed").Inc()
		m.duration.Observe(e.Result.Duration.Seconds())
	case EventFailed:
		m.renewals.WithLabelValues("failed").Inc()
		if e.Result.Duration > 0 {
			m.duration.Observe(e.Result.Duration.Seconds())
		}
	case EventScan:
		m.lastScan.Set(unix(e.Time))
	}
}

// Transport wraps next (nil: http.DefaultTransport) to count ACME requests
// by outcome.
func (m *Metrics) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return countingTransport{next: next, c: m.requests}
}

type countingTransport struct {
	next http.RoundTripper
	c    *prometheus.CounterVec
}

// CloseIdleConnections closes the idle connections of the wrapped
// transport, if it keeps any (http.Client.CloseIdleConnections calls it).
func (t countingTransport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	outcome := "ok"
	var ne net.Error
	switch {
	case err != nil && errors.As(err, &ne), err != nil:
		outcome = "network_error"
	case resp.StatusCode == http.StatusTooManyRequests:
		outcome = "rate_limited"
	case resp.StatusCode >= 500:
		outcome = "server_error"
	case resp.StatusCode >= 400:
		outcome = "client_error"
	}
	t.c.WithLabelValues(outcome).Inc()
	return resp, err
}
