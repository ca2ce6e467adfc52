package bindings

import (
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"testing"
)

func hello(name string) *tls.ClientHelloInfo { return &tls.ClientHelloInfo{ServerName: name} }

// lookupBinder serves "exact" for example.com and www.example.com, "wild" for
// *.example.com and "apex" for example.org; "exact" is the default.
func lookupBinder(t *testing.T) (*Binder, map[string]string) {
	t.Helper()
	b := New(nil)
	exact := leaf(t, leafSpec{names: []string{"example.com", "www.example.com"}})
	wild := leaf(t, leafSpec{names: []string{"*.example.com"}})
	apex := leaf(t, leafSpec{names: []string{"Example.ORG"}})
	// Names longer than the inline key take the other path.
	long := leaf(t, leafSpec{names: []string{longLabel + ".example.net", "*." + longLabel + ".example.net"}})
	mustSet(t, b, "exact", exact, nil)
	mustSet(t, b, "wild", wild, nil)
	mustSet(t, b, "apex", apex, nil)
	mustSet(t, b, "long", long, nil)
	return b, map[string]string{"exact": exact.serial(), "wild": wild.serial(), "apex": apex.serial(), "long": long.serial()}
}

const longLabel = "a-label-long-enough-to-exceed-the-inline-key-size"

func TestBinder_GetCertificate_Lookup(t *testing.T) {
	b, serials := lookupBinder(t)
	tests := []struct {
		serverName string
		want       string // binding expected, "" = an error
	}{
		{"example.com", "exact"},
		{"www.example.com", "exact"}, // exact beats the wildcard
		{"a.example.com", "wild"},
		{"A.Example.COM", "wild"},
		{"WWW.EXAMPLE.COM", "exact"},
		{"www.example.com.", "exact"},
		{"Www.Example.Com.", "exact"},
		{"a.example.com.", "wild"},
		{"example.org", "apex"}, // the leaf's upper-case SAN was folded at install
		{"EXAMPLE.ORG.", "apex"},
		{"", "exact"}, // no SNI: the first added
		{"a.b.example.com", ""},
		{"A.B.EXAMPLE.COM", ""},
		{".example.com", ""},
		{"example.com..", ""},
		{".", ""},
		{"*.example.com", "wild"},
		{"unknown.test", ""},
		{"com", ""},
		{strings.Repeat("A", 300) + ".example.com", ""},
		{strings.Repeat("a", 300) + ".example.com", ""},
		{strings.Repeat("a", 240) + ".example.com", "wild"},
		{strings.Repeat("A", 240) + ".example.com", "wild"},
		{"x.example.com\x00", ""},
		{"example.com\x00", ""},
		{longLabel + ".example.net", "long"},
		{strings.ToUpper(longLabel) + ".EXAMPLE.NET.", "long"},
		{"x." + longLabel + ".example.net", "long"},
		{"X." + strings.ToUpper(longLabel) + ".example.net", "long"},
		{"x.y." + longLabel + ".example.net", ""},
		{longLabel + ".x.example.com", ""},
		{longLabel + ".example.com", "wild"},
	}
	for _, tt := range tests {
		cert, err := b.GetCertificate(hello(tt.serverName))
		if tt.want == "" {
			if err == nil || cert != nil {
				t.Errorf("GetCertificate(%q) = serial %v, want an error", tt.serverName, serialOf(cert))
			} else if !errors.Is(err, ErrUnknownName) {
				t.Errorf("GetCertificate(%q) error %v does not match ErrUnknownName", tt.serverName, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("GetCertificate(%q): %v", tt.serverName, err)
			continue
		}
		if got := serialOf(cert); got != serials[tt.want] {
			t.Errorf("GetCertificate(%q) = serial %s, want %s (%s)", tt.serverName, got, serials[tt.want], tt.want)
		}
		if got := b.Serial(tt.serverName); got != serials[tt.want] {
			t.Errorf("Serial(%q) = %s, want %s", tt.serverName, got, serials[tt.want])
		}
	}
}

func serialOf(c *tls.Certificate) string {
	if c == nil || c.Leaf == nil {
		return "<nil>"
	}
	return serialHex(c.Leaf)
}

func TestBinder_GetCertificate_UnknownNameError(t *testing.T) {
	b, _ := lookupBinder(t)
	_, err := b.GetCertificate(hello("x.example"))
	if err == nil || err.Error() != `bindings: no certificate for "x.example"` {
		t.Fatalf("error = %v, want bindings: no certificate for \"x.example\"", err)
	}
}

func TestBinder_GetCertificate_EmptyBinder(t *testing.T) {
	b := New(nil)
	for _, h := range []*tls.ClientHelloInfo{nil, {}, hello("a.example")} {
		cert, err := b.GetCertificate(h)
		if cert != nil || !errors.Is(err, ErrUnknownName) {
			t.Errorf("GetCertificate(%v) = %v, %v; want nil, ErrUnknownName", h, cert, err)
		}
	}
	if s := b.Serial(""); s != "" {
		t.Errorf("Serial on empty binder = %q", s)
	}
	if n := b.Names(); len(n) != 0 {
		t.Errorf("Names on empty binder = %v", n)
	}
}

func TestBinder_GetCertificate_NilHelloGetsDefault(t *testing.T) {
	b, serials := lookupBinder(t)
	cert, err := b.GetCertificate(nil)
	if err != nil || serialOf(cert) != serials["exact"] {
		t.Fatalf("GetCertificate(nil) = %s, %v; want the default %s", serialOf(cert), err, serials["exact"])
	}
}

func TestBinder_GetCertificate_ZeroAllocsOnHit(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	b, _ := lookupBinder(t)
	for _, name := range []string{"www.example.com", "a.example.com", "A.EXAMPLE.COM", "www.example.com.", "",
		"x." + strings.ToUpper(longLabel) + ".example.net", longLabel + ".example.net"} {
		h := hello(name)
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := b.GetCertificate(h); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("GetCertificate(%q) allocates %v times, want 0", name, allocs)
		}
	}
}

func TestBinder_Set_ReplacesAndKeepsDefault(t *testing.T) {
	b, serials := lookupBinder(t)
	newer := leaf(t, leafSpec{names: []string{"example.com", "www.example.com"}})
	mustSet(t, b, "exact", newer, nil)
	if got := b.Serial("www.example.com"); got != newer.serial() {
		t.Fatalf("after replace Serial = %s, want %s", got, newer.serial())
	}
	if got := b.Serial(""); got != newer.serial() {
		t.Fatalf("default after replacing the first binding = %s, want its new serial %s", got, newer.serial())
	}
	if got := b.Serial("a.example.com"); got != serials["wild"] {
		t.Fatalf("unrelated binding changed: %s", got)
	}
}

func TestBinder_Set_ExplicitNames(t *testing.T) {
	b := New(nil)
	l := leaf(t, leafSpec{names: []string{"*.example.com", "example.com"}})
	mustSet(t, b, "site", l, []string{"api.example.com", "Example.com."})
	w := leaf(t, leafSpec{names: []string{"*.example.org"}})
	mustSet(t, b, "wild", w, []string{"*.EXAMPLE.org"})
	for name, want := range map[string]string{
		"api.example.com": l.serial(), "example.com": l.serial(), "other.example.com": "",
		"x.example.org": w.serial(), "example.org": "",
	} {
		if got := b.Serial(name); got != want {
			t.Errorf("Serial(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestBinder_Set_SharedNameGoesToNewestAndFallsBack(t *testing.T) {
	b := New(nil)
	a := leaf(t, leafSpec{names: []string{"shared.example", "a.example"}})
	c := leaf(t, leafSpec{names: []string{"shared.example", "c.example"}})
	mustSet(t, b, "a", a, nil)
	mustSet(t, b, "c", c, nil)
	if got := b.Serial("shared.example"); got != c.serial() {
		t.Fatalf("shared name served by %s, want the newest %s", got, c.serial())
	}
	b.Remove("c")
	if got := b.Serial("shared.example"); got != a.serial() {
		t.Fatalf("after removing c, shared name served by %q, want %s", got, a.serial())
	}
	if got := b.Serial("c.example"); got != "" {
		t.Fatalf("removed name still served: %s", got)
	}
	// Replacing a binding with one that no longer lists the name hands it back.
	mustSet(t, b, "c", c, nil)
	c2 := leaf(t, leafSpec{names: []string{"c.example"}})
	mustSet(t, b, "c", c2, nil)
	if got := b.Serial("shared.example"); got != a.serial() {
		t.Fatalf("after c dropped the shared name, served by %q, want %s", got, a.serial())
	}
}

func TestBinder_SetDefault_ChoosesAndFallsBack(t *testing.T) {
	b, serials := lookupBinder(t)
	b.SetDefault("apex")
	if got := b.Serial(""); got != serials["apex"] {
		t.Fatalf("default = %s, want apex %s", got, serials["apex"])
	}
	b.Remove("apex")
	if got := b.Serial(""); got != serials["exact"] {
		t.Fatalf("default after removing it = %s, want the first added %s", got, serials["exact"])
	}
	b.SetDefault("wild")
	b.SetDefault("")
	if got := b.Serial(""); got != serials["exact"] {
		t.Fatalf("default after SetDefault(\"\") = %s, want the first added %s", got, serials["exact"])
	}
	b.Remove("exact")
	if got := b.Serial(""); got != serials["wild"] {
		t.Fatalf("default after removing the first = %s, want the next oldest %s", got, serials["wild"])
	}
	// A default named before it exists takes effect when it is added.
	b.SetDefault("later")
	l := leaf(t, leafSpec{names: []string{"later.example"}})
	mustSet(t, b, "later", l, nil)
	if got := b.Serial(""); got != l.serial() {
		t.Fatalf("default = %s, want later %s", got, l.serial())
	}
}

func TestBinder_Names_Sorted(t *testing.T) {
	b, _ := lookupBinder(t)
	if got, want := b.Names(), []string{"apex", "exact", "long", "wild"}; !slices.Equal(got, want) {
		t.Fatalf("Names = %v, want %v", got, want)
	}
	b.Remove("wild")
	b.Remove("nonexistent")
	if got, want := b.Names(), []string{"apex", "exact", "long"}; !slices.Equal(got, want) {
		t.Fatalf("Names = %v, want %v", got, want)
	}
}

func TestBinder_SetCertificate_ParsedForm(t *testing.T) {
	b := New(nil)
	l := leaf(t, leafSpec{names: []string{"parsed.example"}})
	c := l.tlsCert()
	c.Leaf = nil // parsed by the binder
	if err := b.SetCertificate("p", &c, nil); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetCertificate(hello("parsed.example"))
	if err != nil || got.Leaf == nil || serialHex(got.Leaf) != l.serial() {
		t.Fatalf("GetCertificate = %v, %v; want the parsed leaf %s", got, err, l.serial())
	}
	if got == &c {
		t.Fatal("binder serves the caller's struct; want its own copy")
	}
	if err := b.SetCertificate("p", nil, nil); !errors.Is(err, ErrNoCertificate) {
		t.Fatalf("SetCertificate(nil) = %v, want ErrNoCertificate", err)
	}
	c2 := l.tlsCert()
	c2.PrivateKey = nil
	if err := b.SetCertificate("p", &c2, nil); !errors.Is(err, ErrNoKey) {
		t.Fatalf("SetCertificate without key = %v, want ErrNoKey", err)
	}
}
