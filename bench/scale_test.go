package bench

import (
	"testing"
	"time"

	"github.com/certctl/certctl/store"
)

// bigCerts is the number of certificates of the large synthetic store
// (cachedStoreN): "what is due" and daemon start at this scale.
const bigCerts = 100_000

// BenchmarkDueNone measures store.Due on bbolt stores of 10,000 and
// 100,000 certificates of which none is due: the due index is read up to
// its first entry, which is later than now, so the time does not grow with
// the number of certificates (run.sh prints the 100k/10k ratio). Each call
// opens the store file, reads, and closes it, as every DB operation does.
func BenchmarkDueNone(b *testing.B) {
	for _, bc := range []struct {
		name string
		n    int
	}{{"10k", loadCerts}, {"100k", bigCerts}} {
		b.Run(bc.name, func(b *testing.B) {
			db, err := store.Open(cachedStoreN(b, bc.n), &store.Options{ReadOnly: true})
			if err != nil {
				b.Fatal(err)
			}
			ctx := b.Context()
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				due, err := db.Due(ctx, now)
				if err != nil {
					b.Fatal(err)
				}
				if len(due) != 0 {
					b.Fatalf("Due returned %d certificates, want none", len(due))
				}
			}
		})
	}
}
