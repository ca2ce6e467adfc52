package acmetest

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/letsencrypt/challtestsrv"
	"github.com/miekg/dns"
)

// sharedDNS is the process-wide test DNS server: challtestsrv's records and
// DNS handler, served over UDP and TCP by miekg/dns servers that this
// package starts on listeners it holds (no port race, a generous read
// timeout: challtestsrv's own servers drop TCP clients silent for 1 s, which
// happens on a loaded machine). challtestsrv registers its handler on
// miekg/dns's global mux, so a process can have only one; every Server uses
// it. It is never stopped.
type sharedDNS struct {
	srv  *challtestsrv.ChallSrv
	addr string // "127.0.0.1:PORT"

	mu    sync.Mutex
	addrs map[string][]netip.Addr // fqdn -> its only A and AAAA records (SetAddrs)
}

var (
	dnsMu  sync.Mutex
	dnsSrv *sharedDNS
)

const (
	// dnsReadyTimeout bounds how long startDNS waits for its servers.
	dnsReadyTimeout = 10 * time.Second
	// dnsIOTimeout is the read and write timeout of the DNS servers.
	dnsIOTimeout = 10 * time.Second
)

// getDNS returns the shared DNS server, starting it on first use. A failed
// start is retried by the next call.
func getDNS() (*sharedDNS, error) {
	dnsMu.Lock()
	defer dnsMu.Unlock()
	if dnsSrv != nil {
		return dnsSrv, nil
	}
	s, err := startDNS()
	if err != nil {
		return nil, fmt.Errorf("dns server: starting: %w", err)
	}
	dnsSrv = s
	return s, nil
}

func startDNS() (*sharedDNS, error) {
	tl, pc, err := listenUDPAndTCP()
	if err != nil {
		return nil, err
	}
	addr := tl.Addr().String()
	// Given a DNS address, challtestsrv.New registers its handler on
	// dns.DefaultServeMux; its own servers are never started (no Run).
	srv, err := challtestsrv.New(challtestsrv.Config{
		Log:      log.New(io.Discard, "", 0),
		DNSAddrs: []string{addr},
	})
	if err != nil {
		_ = tl.Close()
		_ = pc.Close()
		return nil, err
	}
	srv.SetDefaultDNSIPv4("127.0.0.1")
	srv.SetDefaultDNSIPv6("")

	d := &sharedDNS{srv: srv, addr: addr, addrs: make(map[string][]netip.Addr)}
	started := make(chan struct{}, 2)
	failed := make(chan error, 2)
	for _, ds := range []*dns.Server{
		{Listener: tl, Net: "tcp"},
		{PacketConn: pc, Net: "udp"},
	} {
		ds.Handler = d
		ds.ReadTimeout = dnsIOTimeout
		ds.WriteTimeout = dnsIOTimeout
		ds.NotifyStartedFunc = func() { started <- struct{}{} }
		go func() {
			if err := ds.ActivateAndServe(); err != nil {
				failed <- err
			}
		}()
	}
	timeout := time.NewTimer(dnsReadyTimeout)
	defer timeout.Stop()
	for range 2 {
		select {
		case <-started:
		case err := <-failed:
			return nil, err
		case <-timeout.C:
			return nil, fmt.Errorf("%s: not serving after %s", addr, dnsReadyTimeout)
		}
	}
	return d, nil
}

// ServeDNS answers A and AAAA questions for the names given to setAddrs
// itself (unless they are set to SERVFAIL) and hands every other query to
// challtestsrv's handler.
func (d *sharedDNS) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if len(r.Question) == 1 {
		q := r.Question[0]
		d.mu.Lock()
		addrs, ok := d.addrs[strings.ToLower(q.Name)]
		d.mu.Unlock()
		if ok && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeAAAA) && !d.srv.GetDNSServFailRecord(q.Name) {
			m := new(dns.Msg)
			m.SetReply(r)
			for _, a := range addrs {
				hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: 1}
				switch {
				case q.Qtype == dns.TypeA && a.Is4():
					m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
				case q.Qtype == dns.TypeAAAA && a.Is6():
					m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
				}
			}
			_ = w.WriteMsg(m)
			return
		}
	}
	dns.DefaultServeMux.ServeDNS(w, r)
}

// listenUDPAndTCP listens on one loopback port for both TCP and UDP.
func listenUDPAndTCP() (net.Listener, net.PacketConn, error) {
	var lastErr error
	for range 20 {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		port := tl.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			_ = tl.Close()
			lastErr = err
			continue
		}
		return tl, pc, nil
	}
	return nil, nil, fmt.Errorf("no loopback port free for both tcp and udp: %w", lastErr)
}

// setTXT adds a TXT value for fqdn.
func (d *sharedDNS) setTXT(fqdn, value string) {
	d.srv.AddDNSTXTRecord(dns.Fqdn(fqdn), value)
}

// clearTXT removes every TXT value of fqdn.
func (d *sharedDNS) clearTXT(fqdn string) {
	d.srv.DeleteDNSTXTRecord(dns.Fqdn(fqdn))
	d.forget(fqdn)
}

// setAddrs makes addrs the only A and AAAA records of name.
func (d *sharedDNS) setAddrs(name string, addrs []netip.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addrs[strings.ToLower(dns.Fqdn(name))] = slices.Clone(addrs)
}

// setCAA adds a CAA record (flags 0) to name.
func (d *sharedDNS) setCAA(name, tag, value string) {
	d.srv.AddDNSCAARecord(dns.Fqdn(name), []challtestsrv.CAAPolicy{{Tag: tag, Value: value}})
}

// caa returns the CAA records of name.
func (d *sharedDNS) caa(name string) []challtestsrv.CAAPolicy {
	return d.srv.GetDNSCAARecord(dns.Fqdn(name))
}

// clearRecords removes every record set for name: its A and AAAA records
// (back to 127.0.0.1 and none), its CAA and TXT records and SERVFAIL.
func (d *sharedDNS) clearRecords(name string) {
	fqdn := dns.Fqdn(name)
	d.mu.Lock()
	delete(d.addrs, strings.ToLower(fqdn))
	d.mu.Unlock()
	d.srv.DeleteDNSCAARecord(fqdn)
	d.srv.DeleteDNSServFailRecord(fqdn)
	d.clearTXT(fqdn)
}

// forget drops challtestsrv's request history for name, which would
// otherwise grow with every query for the life of the process.
func (d *sharedDNS) forget(name string) {
	name = strings.TrimSuffix(name, ".")
	d.srv.ClearRequestHistory(name, challtestsrv.DNSRequestEventType)
}
