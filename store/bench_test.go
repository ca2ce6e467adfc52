package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// benchDir holds the stores built for benchmarks, shared by every run of a
// benchmark function (b.N grows over several calls) and removed by TestMain.
var (
	benchDir    string
	benchStores sync.Map // "n/due" -> path
	benchMu     sync.Mutex
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		_ = os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// pemBlob returns a PEM-like block of about size bytes.
func pemBlob(kind string, size int) []byte {
	raw := make([]byte, size*3/4)
	_, _ = rand.Read(raw)
	return []byte("-----BEGIN " + kind + "-----\n" + base64.StdEncoding.EncodeToString(raw) + "\n-----END " + kind + "-----\n")
}

// benchCert returns a record of realistic size (one version: leaf, chain of
// two and an EC key).
func benchCert(name string, next time.Time) *Certificate {
	c := fullCert(name)
	v := testVersion(1)
	v.CertPEM = pemBlob("CERTIFICATE", 1600)
	v.ChainPEM = pemBlob("CERTIFICATE", 3400)
	v.KeyPEM = pemBlob("EC PRIVATE KEY", 300)
	c.Versions = []Version{v}
	c.Active = 1
	c.Renewal.Next = next
	return c
}

// benchStore returns a store holding n records of which due have
// Renewal.Next at or before t0; the others are due later, spread over a year.
func benchStore(b *testing.B, n, due int) *DB {
	b.Helper()
	key := fmt.Sprintf("%d/%d", n, due)
	benchMu.Lock()
	defer benchMu.Unlock()
	if p, ok := benchStores.Load(key); ok {
		db, err := Open(p.(string), nil)
		if err != nil {
			b.Fatal(err)
		}
		return db
	}
	if benchDir == "" {
		d, err := os.MkdirTemp("", "certctl-store-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = d
	}
	path := filepath.Join(benchDir, fmt.Sprintf("bench-%d-%d.db", n, due))
	db, err := Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	// One transaction per 1,000 records keeps the setup fast.
	for start := 0; start < n; start += 1000 {
		err := db.update(context.Background(), func(bk *buckets, gen uint64) error {
			for i := start; i < min(start+1000, n); i++ {
				next := t0.Add(time.Hour + time.Duration(i)*time.Minute*52)
				if i%(n/due) == 0 {
					next = t0.Add(-time.Duration(i) * time.Second)
				}
				c := benchCert(fmt.Sprintf("host-%05d.example", i), next)
				data, err := json.Marshal(c)
				if err != nil {
					return err
				}
				if err := bk.write([]byte(c.Name), data, next, gen); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if got, err := db.Due(context.Background(), t0); err != nil || len(got) != due {
		b.Fatalf("bench store: %d due (%v), want %d", len(got), err, due)
	}
	benchStores.Store(key, path)
	return db
}

func BenchmarkDB_Get(b *testing.B) {
	db := benchStore(b, 10000, 10)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := db.Get(ctx, fmt.Sprintf("host-%05d.example", i%10000)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDB_Put(b *testing.B) {
	db := benchStore(b, 10000, 10)
	ctx := context.Background()
	c, err := db.Get(ctx, "host-00042.example")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.Renewal.Attempts = i
		if err := db.Put(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDB_Due(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("records=%d/due=10", n), func(b *testing.B) {
			db := benchStore(b, n, 10)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				due, err := db.Due(ctx, t0)
				if err != nil || len(due) != 10 {
					b.Fatalf("Due = %d, %v", len(due), err)
				}
			}
		})
	}
}

// BenchmarkDB_List is the full scan that Due avoids, for comparison.
func BenchmarkDB_List(b *testing.B) {
	benchRead(b, func(ctx context.Context, db *DB) error { _, err := db.List(ctx); return err })
}

func BenchmarkDB_Generation(b *testing.B) {
	benchRead(b, func(ctx context.Context, db *DB) error { _, err := db.Generation(ctx); return err })
}

func BenchmarkDB_Revisions(b *testing.B) {
	benchRead(b, func(ctx context.Context, db *DB) error { _, err := db.Revisions(ctx); return err })
}

// benchRead measures read on a store of 10,000 records, 10 of them due.
func benchRead(b *testing.B, read func(context.Context, *DB) error) {
	db := benchStore(b, 10000, 10)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := read(ctx, db); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBoltOptions compares bbolt open options on the per-operation
// open/transaction/close cycle, on a copy of the 10,000-record store.
func BenchmarkBoltOptions(b *testing.B) {
	tunings := []struct {
		name string
		fn   func(*bolt.Options)
	}{
		{"default", nil},
		{"NoFreelistSync", func(o *bolt.Options) { o.NoFreelistSync = true }},
		{"InitialMmapSize=64MiB", func(o *bolt.Options) { o.InitialMmapSize = 64 << 20 }},
	}
	src := benchStore(b, 10000, 10)
	data, err := os.ReadFile(src.Path())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, tu := range tunings {
		path := filepath.Join(b.TempDir(), "copy.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			b.Fatal(err)
		}
		db, err := Open(path, nil)
		if err != nil {
			b.Fatal(err)
		}
		c, err := db.Get(ctx, "host-00042.example")
		if err != nil {
			b.Fatal(err)
		}
		tuneBolt = tu.fn
		b.Run(tu.name+"/Put", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				c.Renewal.Attempts = i
				if err := db.Put(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tu.name+"/Generation", func(b *testing.B) {
			for b.Loop() {
				if _, err := db.Generation(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
		tuneBolt = nil
	}
}
