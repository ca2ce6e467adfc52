package acme

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeDomains_Valid(t *testing.T) {
	tests := []struct {
		in   []string
		want []string
	}{
		{[]string{"Example.COM"}, []string{"example.com"}},
		{[]string{"example.com."}, []string{"example.com"}},
		{[]string{"a.example", "a.example", "b.example"}, []string{"a.example", "b.example"}},
		{[]string{"*.example.com", "example.com"}, []string{"*.example.com", "example.com"}},
		{[]string{"bücher.example"}, []string{"xn--bcher-kva.example"}},
		{[]string{"xn--bcher-kva.example"}, []string{"xn--bcher-kva.example"}},
		{[]string{"a-b.c-d.example"}, []string{"a-b.c-d.example"}},
		{[]string{"192.0.2.10", "2001:DB8:0:0::1", "[::1]", "::ffff:192.0.2.10", "a.example"},
			[]string{"192.0.2.10", "2001:db8::1", "::1", "a.example"}},
	}
	for _, tt := range tests {
		got, err := NormalizeDomains(tt.in)
		if err != nil {
			t.Errorf("NormalizeDomains(%q): %v", tt.in, err)
			continue
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("NormalizeDomains(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeDomains_Invalid(t *testing.T) {
	long := strings.Repeat("a", 64) + ".example"
	var huge []string
	for i := 0; i < 5; i++ {
		huge = append(huge, strings.Repeat("b", 60))
	}
	tooLong := strings.Join(huge, ".") + ".example" // > 253
	var many []string
	for i := 0; i < 101; i++ {
		many = append(many, "n"+strings.Repeat("x", i%5)+string(rune('a'+i%26))+".example"+strings.Repeat("z", i/26))
	}
	tests := map[string][]string{
		"empty list":    nil,
		"empty name":    {""},
		"leading dash":  {"-bad.example"},
		"trailing dash": {"bad-.example"},
		"double dot":    {"a..b.example"},
		"label > 63":    {long},
		"name > 253":    {tooLong},
		"space":         {"a b.example"},
		"url":           {"http://x.example"},
		"port":          {"x.example:443"},
		"inner star":    {"a.*.example"},
		"bare star":     {"*"},
		"single label":  {"localhost"},
		"ip with zone":  {"fe80::1%eth0"},
		"leading zeros": {"127.000.0.1"},
		"ip and port":   {"127.0.0.1:80"},
		"underscore":    {"a_b.example"},
		"over 100":      many,
	}
	for name, in := range tests {
		_, err := NormalizeDomains(in)
		if !errors.Is(err, ErrBadDomain) {
			t.Errorf("%s: NormalizeDomains(%.60q) error = %v, want ErrBadDomain", name, in, err)
		}
	}
}

func TestResolveDirectory(t *testing.T) {
	for in, want := range map[string]string{
		"":                        LetsEncrypt,
		"letsencrypt":             LetsEncrypt,
		"letsencrypt-staging":     LetsEncryptStaging,
		"zerossl":                 ZeroSSL,
		"google":                  GoogleTrust,
		"https://ca.example/dir":  "https://ca.example/dir",
		"http://127.0.0.1:14000/": "http://127.0.0.1:14000/",
	} {
		got, err := ResolveDirectory(in)
		if err != nil || got != want {
			t.Errorf("ResolveDirectory(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"lets-encrypt", "ftp://x", "https://", "/dir"} {
		if _, err := ResolveDirectory(bad); !errors.Is(err, ErrBadDirectory) {
			t.Errorf("ResolveDirectory(%q) error = %v, want ErrBadDirectory", bad, err)
		}
	}
}

func TestParseKeyType(t *testing.T) {
	for _, k := range []string{"", "ec256", "ec384", "rsa2048", "rsa4096"} {
		if _, err := ParseKeyType(k); err != nil {
			t.Errorf("ParseKeyType(%q): %v", k, err)
		}
	}
	if _, err := ParseKeyType("dsa"); !errors.Is(err, ErrBadKeyType) {
		t.Errorf("ParseKeyType(dsa) error = %v", err)
	}
}

func TestCheckChallenge(t *testing.T) {
	wild := []string{"*.example.com"}
	cases := []struct {
		ch    Challenge
		names []string
		ok    bool
	}{
		{Challenge{Type: HTTP01}, []string{"a.example"}, true},
		{Challenge{}, []string{"a.example"}, true},
		{Challenge{Type: HTTP01}, wild, false},
		{Challenge{Type: TLSALPN01}, wild, false},
		{Challenge{Type: DNS01}, wild, false},
		{Challenge{Type: DNS01, DNSProvider: "no-such-provider"}, wild, false},
		{Challenge{Type: DNS01, DNS: fakeDNS{}}, wild, true},
		{Challenge{Type: "smtp-01"}, []string{"a.example"}, false},
	}
	for i, c := range cases {
		err := CheckChallenge(c.ch, c.names)
		if (err == nil) != c.ok {
			t.Errorf("case %d: CheckChallenge(%+v) = %v, want ok=%v", i, c.ch, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrBadChallenge) {
			t.Errorf("case %d: error %v is not ErrBadChallenge", i, err)
		}
	}
}

type fakeDNS struct{}

func (fakeDNS) Present(domain, token, keyAuth string) error { return nil }
func (fakeDNS) CleanUp(domain, token, keyAuth string) error { return nil }

func TestCheckChallenge_NoRegistryLinked(t *testing.T) {
	if dnsLookup.Load() != nil {
		t.Skip("a registry is installed")
	}
	err := CheckChallenge(Challenge{Type: DNS01, DNSProvider: "cloudflare"}, []string{"*.example.com"})
	if !errors.Is(err, ErrBadChallenge) || !errors.Is(err, ErrNoDNSRegistry) {
		t.Fatalf("CheckChallenge without a registry = %v, want ErrBadChallenge and ErrNoDNSRegistry", err)
	}
}

func TestCheckChallenge_IPNeedsHTTPOrTLSALPN(t *testing.T) {
	names := []string{"192.0.2.10", "2001:db8::1"}
	for _, typ := range []string{HTTP01, TLSALPN01} {
		if err := CheckChallenge(Challenge{Type: typ}, names); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
	err := CheckChallenge(Challenge{Type: DNS01, DNSProvider: "manual"}, names)
	if !errors.Is(err, ErrBadChallenge) || !strings.Contains(err.Error(), "IP addresses need") {
		t.Errorf("dns-01 with IPs: %v, want ErrBadChallenge naming IP addresses", err)
	}
}

func TestReverseIP(t *testing.T) {
	for in, want := range map[string]string{
		"1.0.0.127.in-addr.arpa":  "127.0.0.1",
		"10.2.0.192.in-addr.arpa": "192.0.2.10",
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa": "::1",
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa": "2001:db8::1",
		"1.0.0.in-addr.arpa":     "",
		"x.0.0.127.in-addr.arpa": "",
		"example.com":            "",
	} {
		got, ok := reverseIP(in)
		if got != want || ok != (want != "") {
			t.Errorf("reverseIP(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
