package acmetest

import (
	"net/netip"
	"testing"
	"time"

	"github.com/letsencrypt/challtestsrv"
	"github.com/miekg/dns"
)

func TestServer_SetAddrs_CAA_ServFail_ClearRecords(t *testing.T) {
	s := StartT(t, Options{})
	const name = "records.example"
	t.Cleanup(func() { s.ClearRecords(name) })
	c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
	q := func(typ uint16) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), typ)
		in, _, err := c.Exchange(m, s.DNSAddr())
		if err != nil {
			t.Fatalf("query: %v", err)
		}
		return in
	}
	s.SetAddrs(name, netip.IPv6Loopback())
	if a := q(dns.TypeA).Answer; len(a) != 0 {
		t.Errorf("A with only an AAAA record set = %v, want none", a)
	}
	if aaaa := q(dns.TypeAAAA).Answer; len(aaaa) != 1 || aaaa[0].(*dns.AAAA).AAAA.String() != "::1" {
		t.Errorf("AAAA = %v, want ::1", aaaa)
	}
	s.SetAddrs(name)
	if a, aaaa := q(dns.TypeA).Answer, q(dns.TypeAAAA).Answer; len(a)+len(aaaa) != 0 {
		t.Errorf("no addresses set, got A %v AAAA %v", a, aaaa)
	}
	s.SetCAA(name, "issue", "other-ca.example")
	if caa := q(dns.TypeCAA).Answer; len(caa) != 1 || caa[0].(*dns.CAA).Value != "other-ca.example" {
		t.Errorf("CAA = %v", caa)
	}
	s.SetServFail(name)
	if rc := q(dns.TypeA).Rcode; rc != dns.RcodeServerFailure {
		t.Errorf("rcode after SetServFail = %s", dns.RcodeToString[rc])
	}
	s.ClearRecords(name)
	in := q(dns.TypeA)
	if in.Rcode != dns.RcodeSuccess || len(in.Answer) != 1 || in.Answer[0].(*dns.A).A.String() != "127.0.0.1" {
		t.Errorf("after ClearRecords: %v", in)
	}
	if caa := q(dns.TypeCAA).Answer; len(caa) != 0 {
		t.Errorf("CAA after ClearRecords = %v", caa)
	}
}

func TestCAAAllows(t *testing.T) {
	p := func(tag, value string) challtestsrv.CAAPolicy { return challtestsrv.CAAPolicy{Tag: tag, Value: value} }
	for _, tc := range []struct {
		name     string
		records  []challtestsrv.CAAPolicy
		wildcard bool
		want     bool
	}{
		{"no records", nil, false, true},
		{"names us", []challtestsrv.CAAPolicy{p("issue", "other.example"), p("issue", CAAIdentity+"; account=1")}, false, true},
		{"names another", []challtestsrv.CAAPolicy{p("issue", "other.example")}, false, false},
		{"nobody", []challtestsrv.CAAPolicy{p("issue", ";")}, false, false},
		{"iodef only", []challtestsrv.CAAPolicy{p("iodef", "mailto:x@example.com")}, false, true},
		{"wildcard by issue", []challtestsrv.CAAPolicy{p("issue", CAAIdentity)}, true, true},
		{"wildcard refused by issuewild", []challtestsrv.CAAPolicy{p("issue", CAAIdentity), p("issuewild", ";")}, true, false},
		{"issuewild ignored for a plain name", []challtestsrv.CAAPolicy{p("issue", CAAIdentity), p("issuewild", ";")}, false, true},
	} {
		if got := caaAllows(tc.records, tc.wildcard, CAAIdentity); got != tc.want {
			t.Errorf("%s: caaAllows = %v, want %v", tc.name, got, tc.want)
		}
	}
}
