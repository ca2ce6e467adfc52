package bindings

import (
	"crypto/tls"
	"fmt"
	"testing"
)

// TestSnapshot_Txn_CopyOnWrite fills every shard, then replaces and removes
// bindings, checking that the new snapshot is right and that a snapshot
// published earlier (still used by in-flight handshakes) never changes.
func TestSnapshot_Txn_CopyOnWrite(t *testing.T) {
	const n = 5000
	l := leaf(t, "cow.example")
	base := l.TLS()
	b := New(nil)
	certs := make([]*tls.Certificate, n)
	b.update(func(tx *txn) {
		for i := range n {
			c := base
			certs[i] = &c
			tx.put(&entry{name: fmt.Sprint(i), cert: &c,
				names: []string{fmt.Sprintf("h%d.cow.example", i), fmt.Sprintf("*.w%d.cow.example", i)}})
		}
	})
	old := b.cur.Load()
	replaced := make([]*tls.Certificate, n)
	for i := 0; i < n; i += 3 {
		c := base
		replaced[i] = &c
		b.update(func(tx *txn) {
			tx.put(&entry{name: fmt.Sprint(i), cert: &c,
				names: []string{fmt.Sprintf("h%d.cow.example", i), fmt.Sprintf("*.w%d.cow.example", i)}})
		})
	}
	removed := 0
	for i := 1; i < n; i += 3 {
		b.Remove(fmt.Sprint(i))
		removed++
	}
	cur := b.cur.Load()
	for i := range n {
		exact, wild := fmt.Sprintf("h%d.cow.example", i), fmt.Sprintf("x.w%d.cow.example", i)
		if got := old.lookup(exact); got != certs[i] {
			t.Fatalf("old snapshot changed for %s", exact)
		}
		if got := old.lookup(wild); got != certs[i] {
			t.Fatalf("old snapshot changed for %s", wild)
		}
		var want *tls.Certificate
		switch i % 3 {
		case 0:
			want = replaced[i]
		case 2:
			want = certs[i]
		}
		if got := cur.lookup(exact); got != want {
			t.Fatalf("new snapshot %s: got %p want %p", exact, got, want)
		}
		if got := cur.lookup(wild); got != want {
			t.Fatalf("new snapshot %s: got %p want %p", wild, got, want)
		}
	}
	if got := len(b.Names()); got != n-removed {
		t.Fatalf("Names: %d, want %d", got, n-removed)
	}
}

func TestSnapshot_Txn_SharesChainCertificates(t *testing.T) {
	b := New(nil)
	bind(t, b, "a", "a.example")
	bind(t, b, "c", "c.example")
	ca, _ := b.GetCertificate(hello("a.example"))
	cc, _ := b.GetCertificate(hello("c.example"))
	if &ca.Certificate[1][0] != &cc.Certificate[1][0] {
		t.Fatal("the shared intermediate is held twice")
	}
	b.Remove("a")
	b.Remove("c")
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.w.chains) != 0 {
		t.Fatalf("%d chain certificates kept after removing every binding", len(b.w.chains))
	}
}
