package acme

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// MaxNames is the most names one certificate may carry (Let's Encrypt's limit).
const MaxNames = 100

var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.ValidateLabels(true),
	idna.VerifyDNSLength(true),
	idna.StrictDomainName(true),
)

// NormalizeDomains checks names for use in a certificate and returns them in
// canonical form: lower case, internationalized names as punycode (A-labels),
// no trailing dot, duplicates dropped, order kept. A wildcard is allowed only
// as the whole first label ("*.example.com"). An IP address (RFC 8738) is
// kept in its canonical text form ("192.0.2.10", "2001:db8::1"); see
// [IsIP].
func NormalizeDomains(names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("no domain given: %w", ErrBadDomain)
	}
	out := make([]string, 0, len(names))
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		d, err := NormalizeDomain(n)
		if err != nil {
			return nil, err
		}
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	if len(out) > MaxNames {
		return nil, fmt.Errorf("%d names: %w: at most %d per certificate", len(out), ErrBadDomain, MaxNames)
	}
	return out, nil
}

// NormalizeDomain checks one name; see [NormalizeDomains].
func NormalizeDomain(name string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%q: %w: %s", name, ErrBadDomain, why)
	}
	s := name
	if s == "" {
		return bad("empty")
	}
	if !utf8.ValidString(s) {
		// idna would turn each invalid byte into U+FFFD and encode that.
		return bad("not valid UTF-8")
	}
	if ip, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		switch {
		case ip.Zone() != "":
			return bad("an IP address with a zone cannot be certified")
		case ip.Is4In6():
			ip = ip.Unmap()
		}
		return ip.String(), nil
	}
	if strings.ContainsAny(s, " \t\r\n/:@?#\\") {
		return bad("not a bare DNS name (no spaces, scheme, port or path)")
	}
	s = strings.TrimSuffix(s, ".")
	wildcard := false
	if strings.HasPrefix(s, "*.") {
		wildcard = true
		s = s[2:]
	}
	if strings.Contains(s, "*") {
		return bad("a wildcard must be the whole first label, as in *.example.com")
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" {
			return bad("empty label")
		}
	}
	ascii, err := idnaProfile.ToASCII(s)
	if err != nil {
		return bad(idnaReason(err))
	}
	ascii = strings.ToLower(ascii)
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return bad("needs at least two labels")
	}
	for _, l := range labels {
		if l == "" { // a mapped dot ("a．", full width) ends the name only now
			return bad("empty label")
		}
		if len(l) > 63 {
			return bad("label longer than 63 characters")
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return bad("label starts or ends with a hyphen")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return bad(fmt.Sprintf("character %q not allowed", c))
			}
		}
	}
	if again, err := idnaProfile.ToASCII(ascii); err != nil || again != ascii {
		// The canonical form must itself be a valid name (a mapping
		// that yields an invalid A-label is refused here).
		return bad("does not normalize to a valid name")
	}
	if isNumeric(labels[len(labels)-1]) {
		return bad("not a valid IP address or DNS name")
	}
	if wildcard {
		ascii = "*." + ascii
	}
	if len(ascii) > 253 {
		return bad("longer than 253 characters")
	}
	return ascii, nil
}

func isNumeric(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func idnaReason(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "too long"), strings.Contains(msg, "length"):
		return "label longer than 63 characters or name longer than 253"
	case strings.Contains(msg, "hyphen"):
		return "label starts or ends with a hyphen"
	default:
		return strings.TrimPrefix(msg, "idna: ")
	}
}

// IsIP reports whether a normalized name is an IP address rather than a DNS
// name.
func IsIP(name string) bool {
	_, err := netip.ParseAddr(name)
	return err == nil
}

// HasIP reports whether any of names is an IP address.
func HasIP(names []string) bool {
	return slices.ContainsFunc(names, IsIP)
}

// HasWildcard reports whether any of names is a wildcard.
func HasWildcard(names []string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, "*.") {
			return true
		}
	}
	return false
}

// reverseIP returns the IP address whose reverse-mapping name (RFC 8738
// section 6: "10.2.0.192.in-addr.arpa", or 32 nibbles under "ip6.arpa") is
// name, lower case and without the trailing dot.
func reverseIP(name string) (string, bool) {
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa"); ok {
		l := strings.Split(rest, ".")
		if len(l) != 4 {
			return "", false
		}
		ip, err := netip.ParseAddr(l[3] + "." + l[2] + "." + l[1] + "." + l[0])
		if err != nil {
			return "", false
		}
		return ip.String(), true
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		l := strings.Split(rest, ".")
		if len(l) != 32 {
			return "", false
		}
		var b [16]byte
		for i, n := range l {
			if len(n) != 1 {
				return "", false
			}
			v := strings.IndexByte("0123456789abcdef", n[0])
			if v < 0 {
				return "", false
			}
			// l[0] is the lowest nibble of the last byte.
			j := 31 - i
			if j%2 == 0 {
				b[j/2] |= byte(v) << 4
			} else {
				b[j/2] |= byte(v)
			}
		}
		return netip.AddrFrom16(b).String(), true
	}
	return "", false
}

// DefaultName returns the store name of a certificate for normalized
// domains when none is given: the first name, made a safe file name on every
// system ("*." becomes "_.", an IPv6 address's colons become "_", as in
// "2001_db8__1").
func DefaultName(domains []string) string {
	if len(domains) == 0 {
		return ""
	}
	n := strings.Replace(domains[0], "*.", "_.", 1)
	return strings.ReplaceAll(n, ":", "_")
}
