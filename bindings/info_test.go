package bindings

import (
	"crypto/tls"
	"testing"
)

func TestBinder_Bindings_ReportsWhatIsServed(t *testing.T) {
	b := New(nil)
	if got := b.Bindings(); len(got) != 0 {
		t.Fatalf("empty binder: %v", got)
	}
	bind(t, b, "b", "b.example")
	bind(t, b, "a", "a.example", "www.a.example")
	got := b.Bindings()
	if len(got) != 2 || got[0].Name != "a" || got[1].Name != "b" {
		t.Fatalf("Bindings = %+v, want a then b", got)
	}
	served, err := b.GetCertificate(&tls.ClientHelloInfo{ServerName: "www.a.example"})
	if err != nil {
		t.Fatal(err)
	}
	a := got[0]
	if a.Certificate != served || a.Serial != b.Serial("a.example") || !a.NotAfter.Equal(served.Leaf.NotAfter) || len(a.Names) != 2 {
		t.Fatalf("binding a = %+v, does not describe the served certificate", a)
	}
	b.Remove("a")
	if got := b.Bindings(); len(got) != 1 || got[0].Name != "b" {
		t.Fatalf("after Remove: %+v", got)
	}
}
