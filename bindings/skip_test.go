package bindings

import (
	"context"
	"testing"
)

// skippingSource marks the certificates it names as held without a key.
type skippingSource struct {
	*fakeSource
	skip map[string]bool
}

func (s skippingSource) Load(ctx context.Context, names []string) ([]Loaded, error) {
	out, err := s.fakeSource.Load(ctx, names)
	for i := range out {
		if s.skip[out[i].Name] {
			out[i].KeyPEM = nil
			out[i].Skip = "no private key"
		}
	}
	return out, err
}

func TestBinder_Sync_SkipsCertificatesWithoutKey(t *testing.T) {
	src := skippingSource{newFakeSource(), map[string]bool{}}
	a, c := leaf(t, "a.example"), leaf(t, "c.example")
	src.put("a", a.FullchainPEM(), a.KeyPEM(t))
	src.put("c", c.FullchainPEM(), c.KeyPEM(t))
	var log errorLog
	b := New(&Options{OnError: log.onError})
	ctx := t.Context()
	if err := b.Sync(ctx, src); err != nil {
		t.Fatal(err)
	}
	if b.Serial("c.example") != c.Serial() {
		t.Fatal("c not served")
	}
	// c is re-issued with the user's CSR: its key is no longer certctl's.
	src.skip["c"] = true
	c2 := leaf(t, "c.example")
	src.put("c", c2.FullchainPEM(), nil)
	if err := b.Sync(ctx, src); err != nil {
		t.Fatalf("Sync with a certificate without key: %v", err)
	}
	if got := b.Serial("c.example"); got != "" {
		t.Fatalf("c.example still served (serial %s) after its key went elsewhere", got)
	}
	if b.Serial("a.example") != a.Serial() || log.count("c") != 0 {
		t.Fatalf("a serial %s, reports for c %d", b.Serial("a.example"), log.count("c"))
	}
	// Not loaded again until it changes.
	_, _, before := src.counts()
	src.put("x", nil, nil)
	src.del("x")
	if err := b.Sync(ctx, src); err != nil {
		t.Fatal(err)
	}
	if _, _, after := src.counts(); after["c"] != before["c"] {
		t.Fatalf("skipped certificate loaded again: %d -> %d", before["c"], after["c"])
	}
}
