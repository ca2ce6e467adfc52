package bindings

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
)

// FuzzBinder_GetCertificate feeds arbitrary server names to GetCertificate and
// compares the answer with a slow reference matcher. Run it with
// go test -fuzz FuzzBinder_GetCertificate ./bindings/
func FuzzBinder_GetCertificate(f *testing.F) {
	b := New(nil)
	served := map[string][]string{
		"exact": {"example.com", "www.example.com", "xn--bcher-kva.example"},
		"wild":  {"*.example.com", "*.a.b.example.net"},
		"other": {"example.net"},
		"long":  {longLabel + ".example.org", "*." + longLabel + ".example.org", "*.example.org"},
	}
	serials := map[string]string{}
	for name, names := range served {
		l := leaf(f, names...)
		mustSet(f, b, name, l, nil)
		serials[name] = l.Serial()
	}
	for _, s := range []string{"", ".", "..", "example.com", "A.EXAMPLE.COM.", "a.b.example.com", "*.example.com",
		"x.a.b.example.net", "\x00", "x." + longLabel + ".example.org", longLabel + ".example.org", "é.example.com", strings.Repeat("Z", 300), "a..example.com", "example.com.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, serverName string) {
		cert, err := b.GetCertificate(&tls.ClientHelloInfo{ServerName: serverName})
		want := referenceLookup(served, serverName)
		if serverName == "" {
			// The default: the first added, which depends on map order above.
			if err != nil || cert == nil {
				t.Fatalf("no default certificate: %v", err)
			}
			return
		}
		if want == "" {
			if cert != nil || !errors.Is(err, ErrUnknownName) {
				t.Fatalf("GetCertificate(%q) = %v, %v; want ErrUnknownName", serverName, serialOf(cert), err)
			}
			if !strings.Contains(err.Error(), "no certificate for") {
				t.Fatalf("unhelpful error %q", err)
			}
			return
		}
		if err != nil || serialOf(cert) != serials[want] {
			t.Fatalf("GetCertificate(%q) = %s, %v; want %s (%s)", serverName, serialOf(cert), err, serials[want], want)
		}
	})
}

// referenceLookup is the lookup rule written plainly: one trailing dot
// ignored, ASCII case folded, exact names before one-label wildcards.
func referenceLookup(served map[string][]string, serverName string) string {
	n := strings.TrimSuffix(serverName, ".")
	if n == "" || len(n) > maxServerName {
		return ""
	}
	n = asciiLower(n)
	for binding, names := range served {
		for _, p := range names {
			if p == n {
				return binding
			}
		}
	}
	i := strings.IndexByte(n, '.')
	if i <= 0 {
		return ""
	}
	for binding, names := range served {
		for _, p := range names {
			if strings.HasPrefix(p, "*.") && p[2:] == n[i+1:] {
				return binding
			}
		}
	}
	return ""
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
