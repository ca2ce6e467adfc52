package cli_test

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/certctl/certctl/internal/acmetest"
)

// verifyIPLeaf checks that dir/cert.pem carries ip in its IP SANs and
// verifies for it against the CA's root.
func (h *harness) verifyIPLeaf(dir, ip string) *x509.Certificate {
	h.t.Helper()
	leaf := h.verifyExport(dir, ip)
	if len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP(ip)) || len(leaf.DNSNames) != 0 {
		h.t.Fatalf("leaf IP SANs %v, DNS SANs %v; want only %s", leaf.IPAddresses, leaf.DNSNames, ip)
	}
	return leaf
}

func TestCLI_Issue_IPAddresses(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	port := strconv.Itoa(h.srv.HTTPPort())
	tlsPort := strconv.Itoa(h.srv.TLSPort())
	exports := t.TempDir()
	cases := []struct {
		ip, name string
		args     []string
	}{
		{"127.0.0.1", "127.0.0.1", []string{"--http-addr", "127.0.0.1:" + port}},
		{"::1", "__1", []string{"--http-addr", "[::1]:" + port}},
		{"127.0.0.1", "ip-alpn", []string{"--name", "ip-alpn", "--challenge", "tls-alpn-01", "--tls-addr", "127.0.0.1:" + tlsPort}},
		{"::1", "ip6-alpn", []string{"--name", "ip6-alpn", "--challenge", "tls-alpn-01", "--tls-addr", "[::1]:" + tlsPort}},
	}
	for _, c := range cases {
		args := append([]string{"issue", "-d", c.ip, "--agree-tos", "--export", exports}, c.args...)
		if out := h.mustRun(args...); !strings.Contains(out, "ISSUED") || !strings.Contains(out, c.name) {
			t.Fatalf("issue %s: %s", c.ip, out)
		}
		dir := filepath.Join(exports, c.name)
		first := h.verifyIPLeaf(dir, c.ip)

		if out := h.mustRun("renew", c.name, "--force"); !strings.Contains(out, "RENEWED") {
			t.Fatalf("renew %s: %s", c.name, out)
		}
		second := h.verifyIPLeaf(dir, c.ip)
		if first.SerialNumber.Cmp(second.SerialNumber) == 0 {
			t.Fatalf("%s: export not replaced by the renewal", c.name)
		}
		e, ok := h.list()[c.name]
		if !ok || len(e.Domains) != 1 || e.Domains[0] != c.ip || e.Status != "valid" {
			t.Fatalf("list entry for %s: %+v (present %v)", c.name, e, ok)
		}
		if out := h.mustRun("show", c.name); !strings.Contains(out, c.ip) {
			t.Fatalf("show %s lacks %s:\n%s", c.name, c.ip, out)
		}
	}
}

func TestCLI_Issue_IPAddressRefusesDNS01(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	before, _ := os.ReadFile(h.store)
	for _, ip := range []string{"127.0.0.1", "::1"} {
		code, out, errs := h.run("issue", "-d", ip, "--challenge", "dns-01", "--dns", "exec", "--agree-tos")
		if code != 2 || !strings.Contains(errs, "IP addresses need the http-01 or tls-alpn-01 challenge") ||
			strings.Count(strings.TrimSpace(errs), "\n") != 0 || out != "" {
			t.Fatalf("issue -d %s --challenge dns-01: exit %d, stdout %q, stderr %q", ip, code, out, errs)
		}
	}
	if after, _ := os.ReadFile(h.store); string(before) != string(after) {
		t.Fatal("store changed by a refused issue")
	}
	if h.srv.Orders() != 0 {
		t.Fatalf("%d orders sent for refused input", h.srv.Orders())
	}
}
