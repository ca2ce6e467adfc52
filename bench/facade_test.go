package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certctl/certctl"
	"github.com/certctl/certctl/internal/acmetest"
)

// facadeManager starts a Manager over a fresh store and Pebble (srv; nil
// starts one), serving its TLSConfig on Pebble's tls-alpn-01 port, and
// returns it with the address and a client configuration trusting Pebble's
// root, and a function that stops serving (also called when b ends).
func facadeManager(b *testing.B, srv *acmetest.Server, reg prometheus.Registerer, od *certctl.OnDemand) (*certctl.Manager, string, *tls.Config, func()) {
	b.Helper()
	if srv == nil {
		srv = acmetest.StartT(b, acmetest.Options{})
	}
	roots, err := srv.Roots()
	if err != nil {
		b.Fatal(err)
	}
	m, err := certctl.New(&certctl.Config{Store: filepath.Join(b.TempDir(), "certctl.db"), Directory: srv.DirectoryURL(),
		AgreeTOS: true, HTTPClient: srv.HTTPClient(), Schedule: "@every 1h", Metrics: reg, OnDemand: od})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(srv.TLSPort()))
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{TLSConfig: m.TLSConfig(), Handler: http.NotFoundHandler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = hs.ServeTLS(ln, "", "") }()
	var once sync.Once
	stop := func() { once.Do(func() { _ = hs.Close(); <-done }) }
	b.Cleanup(stop)
	return m, ln.Addr().String(), &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}, stop
}

// BenchmarkOnDemandFirstHandshake is the latency of the first handshake for
// an allowed name not held yet: Allow, the order against the in-process
// Pebble (tls-alpn-01 answered by the serving listener itself), the swap and
// the handshake. The CA is local, so this is certctl's own cost plus
// Pebble's; a real CA adds its network and validation time.
func BenchmarkOnDemandFirstHandshake(b *testing.B) {
	od := &certctl.OnDemand{Allow: func(context.Context, string) error { return nil }, Orders: 1 << 20}
	_, addr, client, _ := facadeManager(b, nil, nil, od)
	i := 0
	for b.Loop() {
		i++
		cfg := client.Clone()
		cfg.ServerName = fmt.Sprintf("od%d.first.example", i)
		conn, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			b.Fatal(err)
		}
		conn.Close()
	}
}

// BenchmarkFacadeHandshake compares full TLS 1.3 handshakes for a held name
// served by a Manager's TLSConfig (without and with its metrics) with a
// static tls.Config holding the same certificate. bench/run.sh prints the
// ratio.
func BenchmarkFacadeHandshake(b *testing.B) {
	const name = "held.facade.example"
	srv := acmetest.StartT(b, acmetest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// One Manager without metrics, one with; each obtains the name in turn
	// (each serves Pebble's tls-alpn-01 port while it orders).
	m, _, client, stop := facadeManager(b, srv, nil, nil)
	if err := m.Manage(ctx, name); err != nil {
		b.Fatal(err)
	}
	stop()
	cert, err := m.TLSConfig().GetCertificate(&tls.ClientHelloInfo{ServerName: name})
	if err != nil {
		b.Fatal(err)
	}
	mm, _, _, stop := facadeManager(b, srv, prometheus.NewRegistry(), nil)
	if err := mm.Manage(ctx, name); err != nil {
		b.Fatal(err)
	}
	stop()
	client.ServerName = name
	configs := []struct {
		name string
		cfg  *tls.Config
	}{
		{"static", &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}},
		{"facade", m.TLSConfig()},
		{"facade-metrics", mm.TLSConfig()},
	}
	for _, c := range configs {
		b.Run(c.name, func(b *testing.B) {
			ln, err := tls.Listen("tcp", "127.0.0.1:0", c.cfg)
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					conn, err := ln.Accept()
					if err != nil {
						return
					}
					go func() { _ = conn.(*tls.Conn).Handshake(); conn.Close() }()
				}
			}()
			defer func() { ln.Close(); <-done }()
			b.ReportAllocs()
			for b.Loop() {
				conn, err := tls.Dial("tcp", ln.Addr().String(), client)
				if err != nil {
					b.Fatal(err)
				}
				conn.Close()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
		})
	}
}
