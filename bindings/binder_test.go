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
	exact := bind(t, b, "exact", "example.com", "www.example.com")
	wild := bind(t, b, "wild", "*.example.com")
	apex := bind(t, b, "apex", "Example.ORG")
	// Names longer than the inline key take the other path.
	long := bind(t, b, "long", longLabel+".example.net", "*."+longLabel+".example.net")
	return b, map[string]string{"exact": exact.Serial(), "wild": wild.Serial(), "apex": apex.Serial(), "long": long.Serial()}
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
	newer := bind(t, b, "exact", "example.com", "www.example.com")
	mustServe(t, b, "www.example.com", newer.Serial(), "after replace")
	mustServe(t, b, "", newer.Serial(), "default after replacing the first binding")
	mustServe(t, b, "a.example.com", serials["wild"], "unrelated binding")
}

func TestBinder_Set_ExplicitNames(t *testing.T) {
	b := New(nil)
	l := leaf(t, "*.example.com", "example.com")
	mustSet(t, b, "site", l, []string{"api.example.com", "Example.com."})
	w := leaf(t, "*.example.org")
	mustSet(t, b, "wild", w, []string{"*.EXAMPLE.org"})
	for name, want := range map[string]string{
		"api.example.com": l.Serial(), "example.com": l.Serial(), "other.example.com": "",
		"x.example.org": w.Serial(), "example.org": "",
	} {
		if got := b.Serial(name); got != want {
			t.Errorf("Serial(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestBinder_Set_SharedNameGoesToNewestAndFallsBack(t *testing.T) {
	b := New(nil)
	a := bind(t, b, "a", "shared.example", "a.example")
	c := bind(t, b, "c", "shared.example", "c.example")
	mustServe(t, b, "shared.example", c.Serial(), "shared name, want the newest")
	b.Remove("c")
	mustServe(t, b, "shared.example", a.Serial(), "after removing c")
	mustServe(t, b, "c.example", "", "removed name")
	// Replacing a binding with one that no longer lists the name hands it back.
	mustSet(t, b, "c", c, nil)
	bind(t, b, "c", "c.example")
	mustServe(t, b, "shared.example", a.Serial(), "after c dropped the shared name")
}

func TestBinder_SetDefault_ChoosesAndFallsBack(t *testing.T) {
	b, serials := lookupBinder(t)
	b.SetDefault("apex")
	mustServe(t, b, "", serials["apex"], "default apex")
	b.Remove("apex")
	mustServe(t, b, "", serials["exact"], "default after removing it, want the first added")
	b.SetDefault("wild")
	b.SetDefault("")
	mustServe(t, b, "", serials["exact"], `default after SetDefault(""), want the first added`)
	b.Remove("exact")
	mustServe(t, b, "", serials["wild"], "default after removing the first, want the next oldest")
	// A default named before it exists takes effect when it is added.
	b.SetDefault("later")
	l := bind(t, b, "later", "later.example")
	mustServe(t, b, "", l.Serial(), "default later")
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
	l := leaf(t, "parsed.example")
	c := l.TLS()
	c.Leaf = nil // parsed by the binder
	if err := b.SetCertificate("p", &c, nil); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetCertificate(hello("parsed.example"))
	if err != nil || got.Leaf == nil || serialHex(got.Leaf) != l.Serial() {
		t.Fatalf("GetCertificate = %v, %v; want the parsed leaf %s", got, err, l.Serial())
	}
	if got == &c {
		t.Fatal("binder serves the caller's struct; want its own copy")
	}
	if err := b.SetCertificate("p", nil, nil); !errors.Is(err, ErrNoCertificate) {
		t.Fatalf("SetCertificate(nil) = %v, want ErrNoCertificate", err)
	}
	c2 := l.TLS()
	c2.PrivateKey = nil
	if err := b.SetCertificate("p", &c2, nil); !errors.Is(err, ErrNoKey) {
		t.Fatalf("SetCertificate without key = %v, want ErrNoKey", err)
	}
}
