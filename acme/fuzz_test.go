package acme

import (
	"strings"
	"testing"
)

// FuzzNormalizeDomain checks that a name NormalizeDomain accepts comes out
// canonical: lower-case ASCII letters, digits, hyphens and dots (and a
// leading "*." only), at most 253 bytes, labels of 1 to 63 bytes, and
// unchanged when normalized again.
func FuzzNormalizeDomain(f *testing.F) {
	for _, s := range []string{"example.com", "WWW.Example.COM.", "*.example.com", "bücher.example", "xn--bcher-kva.example",
		"a..b", "*.*.example", "1.2.3.4", "-a.example", "a.example..", "例え.テスト", "ａ．example", "", ".", "*.", "a\u00adb.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		out, err := NormalizeDomain(name)
		if err != nil {
			if out != "" {
				t.Fatalf("NormalizeDomain(%q) = %q with error %v", name, out, err)
			}
			return
		}
		if len(out) > 253 || out == "" {
			t.Fatalf("NormalizeDomain(%q) = %q: length %d", name, out, len(out))
		}
		if IsIP(out) {
			if again, err := NormalizeDomain(out); err != nil || again != out {
				t.Fatalf("NormalizeDomain(%q) = %q, again %q, %v", name, out, again, err)
			}
			return
		}
		rest := strings.TrimPrefix(out, "*.")
		for _, l := range strings.Split(rest, ".") {
			if l == "" || len(l) > 63 {
				t.Fatalf("NormalizeDomain(%q) = %q: label %q", name, out, l)
			}
			for i := 0; i < len(l); i++ {
				if c := l[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
					t.Fatalf("NormalizeDomain(%q) = %q: byte %q", name, out, c)
				}
			}
		}
		again, err := NormalizeDomain(out)
		if err != nil || again != out {
			t.Fatalf("NormalizeDomain(%q) = %q, but NormalizeDomain(%q) = %q, %v", name, out, out, again, err)
		}
		if ds, err := NormalizeDomains([]string{name, out}); err != nil || len(ds) != 1 || ds[0] != out {
			t.Fatalf("NormalizeDomains(%q, %q) = %q, %v; want one name", name, out, ds, err)
		}
	})
}
