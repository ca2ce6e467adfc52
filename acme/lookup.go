package acme

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

const (
	// lookupTimeout bounds the whole of certctl's own look at a name that
	// failed validation.
	lookupTimeout = 5 * time.Second
	// queryTimeout bounds one DNS query to one resolver.
	queryTimeout = 2 * time.Second
	// resolvConf is where the system's resolvers are listed.
	resolvConf = "/etc/resolv.conf"
)

// Lookup is what certctl found itself about a name whose validation failed:
// the name's addresses as its resolvers see them, where certctl's responder
// listens and this host's addresses, so that a name pointing elsewhere can
// be told from a closed port; and for a CAA refusal, the records that
// refused. Fields that were not looked up are empty.
type Lookup struct {
	// Resolvers are the DNS resolvers asked ("host:port").
	Resolvers []string
	// Addrs are the name's A and AAAA records (after its CNAMEs), IPv4
	// first; empty when it has none.
	Addrs []netip.Addr
	// Err says why the resolvers gave no answer (a timeout, SERVFAIL); nil
	// when they answered, with or without records.
	Err error
	// Listen is the one address certctl's responder listens on; the zero
	// Addr when it listens on every address of this host, or when another
	// program serves the challenge (webroot).
	Listen netip.Addr
	// Host are the addresses of this host's network interfaces.
	Host []netip.Addr
	// CAAName is the name that holds the CAA records governing the name
	// (itself or its closest parent with any, RFC 8659), and CAA those
	// records as text (`0 issue "ca.example"`).
	CAAName string
	CAA     []string
	// CAAIdentities are the domain names by which the CA recognises itself
	// in CAA records (its directory's "caaIdentities"), when it lists any.
	CAAIdentities []string
}

// Resolves reports that the resolvers answered with at least one address.
func (l *Lookup) Resolves() bool { return len(l.Addrs) > 0 }

// NoRecords reports that the resolvers answered that the name has no A or
// AAAA record.
func (l *Lookup) NoRecords() bool { return l.Err == nil && len(l.Addrs) == 0 }

// Here reports whether one of the name's addresses is where the responder
// listens: Listen when set, otherwise one of Host. It is true when the
// name's addresses are not known.
func (l *Lookup) Here() bool {
	if !l.Resolves() {
		return true
	}
	local := l.Host
	if l.Listen.IsValid() {
		local = []netip.Addr{l.Listen}
	}
	for _, a := range l.Addrs {
		if slices.Contains(local, a) {
			return true
		}
	}
	return false
}

// SystemResolvers returns the resolvers of /etc/resolv.conf as "host:port",
// as lego reads them for its DNS-01 checks; nil if there are none.
func SystemResolvers() []string {
	cc, err := dns.ClientConfigFromFile(resolvConf)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(cc.Servers))
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	return out
}

// lookupAddrs returns name's A and AAAA records as resolvers see them.
func lookupAddrs(ctx context.Context, resolvers []string, name string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		in, err := query(ctx, resolvers, name, qtype)
		if err != nil {
			return out, err
		}
		for _, rr := range in.Answer {
			var ip net.IP
			switch r := rr.(type) {
			case *dns.A:
				ip = r.A
			case *dns.AAAA:
				ip = r.AAAA
			default:
				continue
			}
			if a, ok := netip.AddrFromSlice(ip); ok && !slices.Contains(out, a.Unmap()) {
				out = append(out, a.Unmap())
			}
		}
	}
	return out, nil
}

// lookupCAA returns the CAA records that govern name and the name holding
// them: those of name, else of its closest parent that has any.
func lookupCAA(ctx context.Context, resolvers []string, name string) (string, []string, error) {
	for n := strings.TrimSuffix(name, "."); n != ""; {
		in, err := query(ctx, resolvers, n, dns.TypeCAA)
		if err != nil {
			return "", nil, err
		}
		var recs []string
		for _, rr := range in.Answer {
			if c, ok := rr.(*dns.CAA); ok {
				recs = append(recs, fmt.Sprintf("%d %s %q", c.Flag, c.Tag, c.Value))
			}
		}
		if len(recs) > 0 {
			return n, recs, nil
		}
		_, parent, ok := strings.Cut(n, ".")
		if !ok {
			break
		}
		n = parent
	}
	return "", nil, nil
}

// query asks resolvers in turn for name's records of qtype and returns the
// first answer that is not a failure (NXDOMAIN is an answer).
func query(ctx context.Context, resolvers []string, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	errs := make([]error, 0, len(resolvers))
	for _, r := range resolvers {
		for _, network := range []string{"udp", "tcp"} {
			c := &dns.Client{Net: network, Timeout: queryTimeout}
			in, _, err := c.ExchangeContext(ctx, m, r)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r, err))
				break
			}
			if in.Truncated && network == "udp" {
				continue
			}
			if in.Rcode == dns.RcodeSuccess || in.Rcode == dns.RcodeNameError {
				return in, nil
			}
			errs = append(errs, fmt.Errorf("%s answered %s for %s", r, dns.RcodeToString[in.Rcode], name))
			break
		}
	}
	if len(errs) == 0 {
		return nil, errors.New("no resolvers")
	}
	return nil, errors.Join(errs...)
}

// hostAddrs returns the addresses of this host's network interfaces.
func hostAddrs() []netip.Addr {
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, ia := range ifaddrs {
		if p, err := netip.ParsePrefix(ia.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
}

// listenAddr returns the specific IP address a responder address
// ("127.0.0.1:80", ":80") binds, or the zero Addr for every address.
func listenAddr(addr string) netip.Addr {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a.Unmap()
}

// caaIdentities reads the "caaIdentities" of the directory's metadata.
func caaIdentities(ctx context.Context, hc *http.Client, directory string) []string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, directory, nil)
	if err != nil {
		return nil
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var dir struct {
		Meta struct {
			CAAIdentities []string `json:"caaIdentities"`
		} `json:"meta"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&dir) != nil {
		return nil
	}
	return dir.Meta.CAAIdentities
}
