package acmetest

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/go-acme/lego/v4/certificate"
)

// BenchmarkServer_Obtain measures one full http-01 issuance with lego
// (newOrder, challenge, finalize, download) against one Server.
func BenchmarkServer_Obtain(b *testing.B) {
	s := StartT(b, Options{})
	r := startHTTP01(b, s.HTTPPort())
	c := newClient(b, s, r)
	for i := 0; b.Loop(); i++ {
		if _, err := c.Certificate.Obtain(certificate.ObtainRequest{
			Domains: []string{fmt.Sprintf("b%d.example", i)},
			Bundle:  true,
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServer_ObtainParallel is BenchmarkServer_Obtain with one lego
// client (account) per goroutine.
func BenchmarkServer_ObtainParallel(b *testing.B) {
	s := StartT(b, Options{})
	r := startHTTP01(b, s.HTTPPort())
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		c := newClient(b, s, r)
		for pb.Next() {
			name := fmt.Sprintf("p%d.example", n.Add(1))
			if _, err := c.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{name}, Bundle: true}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkStart measures Start and Close of a Server.
func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		s, err := Start(Options{})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
