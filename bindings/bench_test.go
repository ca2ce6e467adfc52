package bindings

import (
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/certctl/certctl/internal/testpki"
)

// benchBinder returns a binder holding n bindings. To build 100,000 cheaply,
// every binding holds a shallow copy of one P-256 tls.Certificate (same DER,
// key and parsed leaf) and is inserted through the internal transaction
// without per-certificate validation: what these benchmarks measure is the
// snapshot lookup, which does not depend on the certificate. Binding i serves
// "h<i>.bench.example" and "*.w<i>.bench.example".
func benchBinder(b *testing.B, n int) *Binder {
	b.Helper()
	l := leaf(b, "bench.example")
	cert := l.TLS()
	bd := New(nil)
	bd.update(func(t *txn) {
		for i := range n {
			c := cert
			t.put(&entry{
				name:  fmt.Sprintf("b%d", i),
				cert:  &c,
				names: []string{fmt.Sprintf("h%d.bench.example", i), fmt.Sprintf("*.w%d.bench.example", i)},
			})
		}
	})
	return bd
}

var benchBinders sync.Map // n -> *Binder, shared by the sub-benchmarks

func BenchmarkGetCertificate(b *testing.B) {
	for _, n := range []int{1, 1000, 100_000} {
		kinds := []struct {
			kind string
			name func(i int) string
		}{
			{"exact", func(i int) string { return fmt.Sprintf("h%d.bench.example", i) }},
			{"exact-mixedcase", func(i int) string { return fmt.Sprintf("H%d.Bench.Example", i) }},
			{"wildcard", func(i int) string { return fmt.Sprintf("x.w%d.bench.example", i) }},
			{"miss", func(i int) string { return fmt.Sprintf("h%d.unknown.example", i) }},
		}
		for _, k := range kinds {
			b.Run(fmt.Sprintf("%d/%s", n, k.kind), func(b *testing.B) {
				v, ok := benchBinders.Load(n)
				if !ok {
					v = benchBinder(b, n)
					benchBinders.Store(n, v)
				}
				bd := v.(*Binder)
				// Every name of the snapshot, in random order, so a large
				// snapshot is not served from warm cache lines. The names are
				// laid out one after the other in one string, read in order:
				// like a server name just parsed from a ClientHello, the input
				// is in cache and only the snapshot's memory is cold.
				var all strings.Builder
				offs := make([]int, n+1)
				for i, j := range rand.Perm(n) {
					all.WriteString(k.name(j))
					offs[i+1] = all.Len()
				}
				names := all.String()
				hello := &tls.ClientHelloInfo{}
				wantErr := k.kind == "miss"
				b.ReportAllocs()
				b.ResetTimer()
				i := 0
				for b.Loop() {
					hello.ServerName = names[offs[i]:offs[i+1]]
					c, err := bd.GetCertificate(hello)
					if (err != nil) != wantErr || (c == nil) != wantErr {
						b.Fatalf("%s: %v, %v", hello.ServerName, c, err)
					}
					if i++; i == n {
						i = 0
					}
				}
			})
		}
	}
}

// BenchmarkHandshake measures full TLS 1.3 handshakes (ECDSA P-256, no
// resumption) over loopback TCP, client and server in this process: a static
// tls.Config{Certificates} against the binder's TLSConfig, in the same run.
// Compare the two ns/op (ratio = static / binder, in handshakes per second).
func BenchmarkHandshake(b *testing.B) {
	l := leaf(b, "hs.example")
	cert := l.TLS()
	bd := New(nil)
	mustSet(b, bd, "hs", l, nil)
	configs := []struct {
		name string
		cfg  *tls.Config
	}{
		{"static", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}},
		{"binder", bd.TLSConfig(Intermediate)},
	}
	client := &tls.Config{ServerName: "hs.example", RootCAs: pki(b).root.Pool(), MinVersion: tls.VersionTLS13}
	for _, c := range configs {
		b.Run(c.name, func(b *testing.B) {
			addr := testpki.ServeTLS(b, c.cfg).Addr
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				conn, err := tls.Dial("tcp", addr, client)
				if err != nil {
					b.Fatal(err)
				}
				if conn.ConnectionState().Version != tls.VersionTLS13 {
					b.Fatal("not TLS 1.3")
				}
				conn.Close()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
		})
	}
}

// BenchmarkSnapshotMemory loads 10,000 distinct certificates (each its own
// P-256 key, leaf + one shared intermediate, through Set with full
// validation) and reports the heap retained per certificate, measured with
// runtime.MemStats after a GC before and after loading.
func BenchmarkSnapshotMemory(b *testing.B) {
	const n = 10_000
	b.ReportAllocs()
	var perCert float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		bd := New(nil)
		for i := range n {
			l := leaf(b, fmt.Sprintf("m%d.mem.example", i))
			if err := bd.Set(fmt.Sprintf("m%d", i), l.FullchainPEM(), l.KeyPEM(b), nil); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if len(bd.Names()) != n {
			b.Fatal("not all loaded")
		}
		perCert = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(bd)
	}
	b.ReportMetric(perCert, "B/cert")
}

// BenchmarkSet measures replacing one certificate (validation, snapshot copy
// and swap) in a binder that holds n bindings: the cost of a renewal.
func BenchmarkSet(b *testing.B) {
	for _, n := range []int{1, 1000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			bd := benchBinder(b, n-1)
			l := leaf(b, "set.example")
			certPEM, keyPEM := l.FullchainPEM(), l.KeyPEM(b)
			b.ReportAllocs()
			for b.Loop() {
				if err := bd.Set("renewed", certPEM, keyPEM, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
