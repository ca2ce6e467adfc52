package cli_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
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

// A DNS name and an address in one certificate: DNS and IP SANs, verifying
// for both.
func TestCLI_Issue_NameAndIPAddress(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	exports := t.TempDir()
	h.mustRun("issue", "-d", "mixed.example", "-d", "127.0.0.1", "--http-addr", h.httpAddr(), "--agree-tos", "--export", exports)
	leaf := h.verifyExport(filepath.Join(exports, "mixed.example"), "mixed.example", "127.0.0.1")
	if len(leaf.DNSNames) != 1 || len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) {
		t.Fatalf("SANs: DNS %v, IP %v", leaf.DNSNames, leaf.IPAddresses)
	}
	if e := h.list()["mixed.example"]; len(e.Domains) != 2 || e.Domains[1] != "127.0.0.1" {
		t.Fatalf("list domains %v", e.Domains)
	}
}

func TestCLI_Issue_IPAddressRefusesDNS01(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	before, _ := os.ReadFile(h.store)
	for _, ip := range []string{"127.0.0.1", "::1"} {
		code, out, errs := h.run("issue", "-d", ip, "--challenge", "dns-01", "--dns", "exec", "--agree-tos")
		if first, _, _ := strings.Cut(errs, "\n"); code != 2 || out != "" ||
			!strings.Contains(first, "IP addresses need the http-01 or tls-alpn-01 challenge") {
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

// publicKey returns the public key of the leaf in dir/cert.pem, in DER.
func publicKey(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(leaf.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// writeCSR makes a key and a CSR for names, writes the CSR to a file (PEM,
// or DER when der) and returns the file and the key's DER (PKCS#8).
func writeCSR(t *testing.T, der bool, cn string, names ...string) (string, []byte, crypto.PublicKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	data := csr
	if !der {
		data = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr})
	}
	path := filepath.Join(t.TempDir(), "req.csr")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return path, keyDER, key.Public()
}

func TestCLI_Issue_CSR(t *testing.T) {
	for _, der := range []bool{false, true} {
		t.Run(fmt.Sprintf("der=%v", der), func(t *testing.T) {
			h := newHarness(t, acmetest.Options{})
			csr, keyDER, pub := writeCSR(t, der, "csr.example", "csr.example", "www.csr.example", "127.0.0.1")
			wantPub, _ := x509.MarshalPKIXPublicKey(pub)
			exports := t.TempDir()
			out := h.mustRun("issue", "--csr", csr, "--http-addr", h.httpAddr(), "--agree-tos", "--export", exports)
			if !strings.Contains(out, "ISSUED") || !strings.Contains(out, "csr.example") {
				t.Fatalf("issue --csr: %s", out)
			}
			bound := filepath.Join(exports, "csr.example")
			if _, err := os.Stat(filepath.Join(bound, "privkey.pem")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("file binding wrote a privkey.pem: %v", err)
			}
			first := publicKey(t, bound)
			if !bytes.Equal(first, wantPub) {
				t.Fatal("the bound certificate does not carry the CSR's public key")
			}
			if out := h.mustRun("renew", "csr.example", "--force"); !strings.Contains(out, "RENEWED") {
				t.Fatalf("renew: %s", out)
			}
			exp := filepath.Join(t.TempDir(), "exp")
			out = h.mustRun("export", "csr.example", "--dir", exp)
			if !strings.Contains(out, "held elsewhere") {
				t.Fatalf("export output: %s", out)
			}
			leaf := pemLeaf(t, filepath.Join(exp, "cert.pem"))
			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM(h.root)
			inter := x509.NewCertPool()
			chain, _ := os.ReadFile(filepath.Join(exp, "chain.pem"))
			inter.AppendCertsFromPEM(chain)
			for _, n := range []string{"csr.example", "www.csr.example", "127.0.0.1"} {
				if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: n}); err != nil {
					t.Fatalf("renewed certificate does not verify for %s: %v", n, err)
				}
			}
			if !bytes.Equal(publicKey(t, exp), wantPub) || !bytes.Equal(publicKey(t, bound), wantPub) {
				t.Fatal("the renewed certificate does not carry the CSR's public key")
			}
			if _, err := os.Stat(filepath.Join(exp, "privkey.pem")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("export wrote a privkey.pem: %v", err)
			}

			// The key is in no record, and nowhere in the store file.
			var show struct {
				Key         string `json:"key"`
				VersionList []any  `json:"version_list"`
			}
			if err := json.Unmarshal([]byte(h.mustRun("show", "csr.example", "-o", "json")), &show); err != nil {
				t.Fatal(err)
			}
			if show.Key != "csr" || len(show.VersionList) != 2 {
				t.Fatalf("show JSON: key %q, %d versions", show.Key, len(show.VersionList))
			}
			if out := h.mustRun("show", "csr.example"); !strings.Contains(out, "held elsewhere (CSR)") {
				t.Fatalf("show:\n%s", out)
			}
			db, err := os.ReadFile(h.store)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(db, keyDER) || bytes.Contains(db, keyDER[len(keyDER)-40:]) {
				t.Fatal("the CSR's private key is in the store file")
			}

			// A PFX needs the key: refused in one line, the record unchanged.
			code, _, errs := h.run("configure", "csr.example", "--pfx", filepath.Join(t.TempDir(), "x.pfx"))
			if code != 2 || !strings.Contains(errs, "held elsewhere") {
				t.Fatalf("configure --pfx: exit %d, %q", code, errs)
			}
			if out := h.mustRun("renew", "csr.example", "--force"); !strings.Contains(out, "RENEWED") || strings.Contains(out, "DEPLOY FAILED") {
				t.Fatalf("renew after the refused PFX binding: %s", out)
			}
			code, _, errs = h.run("issue", "--csr", csr, "--pfx", filepath.Join(t.TempDir(), "x.pfx"))
			if code != 2 || !strings.Contains(errs, "--pfx needs the private key") {
				t.Fatalf("issue --csr --pfx: exit %d, %q", code, errs)
			}
		})
	}
}

func TestCLI_Issue_CSRBadInput(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	csr, _, _ := writeCSR(t, false, "", "a.example", "b.example")
	junk := filepath.Join(t.TempDir(), "junk.csr")
	if err := os.WriteFile(junk, []byte("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	upper, _, _ := writeCSR(t, false, "", "A.example")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--csr", csr, "-d", "a.example"}, "does not match the names of --csr"},
		{[]string{"--csr", csr, "-d", "b.example", "-d", "c.example"}, "does not match the names of --csr"},
		{[]string{"--csr", csr, "--reuse-key"}, "--reuse-key cannot be combined with --csr"},
		{[]string{"--csr", csr, "--key-type", "rsa2048"}, "--key-type cannot be combined with --csr"},
		{[]string{"--csr", junk}, "invalid certificate signing request"},
		{[]string{"--csr", upper}, "not in canonical form"},
		{[]string{"--csr", filepath.Join(t.TempDir(), "missing.csr")}, "no such file"},
	} {
		code, out, errs := h.run(append([]string{"issue", "--agree-tos", "--http-addr", h.httpAddr()}, tc.args...)...)
		if first, _, _ := strings.Cut(errs, "\n"); code != 2 || !strings.Contains(first, tc.want) || out != "" {
			t.Errorf("issue %v: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, out, errs, tc.want)
		}
	}
	// -d listing exactly the CSR's names, in another order, is accepted.
	h.mustRun("issue", "--csr", csr, "-d", "b.example", "-d", "A.example.", "--http-addr", h.httpAddr(), "--agree-tos")
	if h.srv.Orders() != 1 {
		t.Fatalf("%d orders, want 1", h.srv.Orders())
	}
}

func pemLeaf(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

func TestCLI_ReuseKey(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	exports := t.TempDir()
	h.mustRun("issue", "-d", "keep.example", "--reuse-key", "--http-addr", h.httpAddr(), "--agree-tos", "--export", exports)
	h.mustRun("issue", "-d", "fresh.example", "--http-addr", h.httpAddr(), "--export", exports)
	keep, fresh := filepath.Join(exports, "keep.example"), filepath.Join(exports, "fresh.example")
	keys := func() ([]byte, []byte) { return publicKey(t, keep), publicKey(t, fresh) }
	k0, f0 := keys()
	serial0 := pemLeaf(t, filepath.Join(keep, "cert.pem")).SerialNumber
	for i := range 2 {
		h.mustRun("renew", "keep.example", "fresh.example", "--force")
		k, f := keys()
		if !bytes.Equal(k, k0) {
			t.Fatalf("renewal %d with --reuse-key changed the key", i+1)
		}
		if bytes.Equal(f, f0) {
			t.Fatalf("renewal %d without --reuse-key kept the key", i+1)
		}
		f0 = f
		h.verifyExport(keep, "keep.example")
	}
	if pemLeaf(t, filepath.Join(keep, "cert.pem")).SerialNumber.Cmp(serial0) == 0 {
		t.Fatal("keep.example was not renewed")
	}
	if !strings.Contains(h.mustRun("show", "keep.example"), "kept across renewals") {
		t.Fatal("show does not report the kept key")
	}

	// --reuse-key=false on a later renew turns it off from that renewal on.
	h.mustRun("renew", "keep.example", "--force", "--reuse-key=false")
	k1, _ := keys()
	if bytes.Equal(k1, k0) {
		t.Fatal("renew --reuse-key=false kept the key")
	}
	h.mustRun("renew", "keep.example", "--force")
	if k2, _ := keys(); bytes.Equal(k2, k1) {
		t.Fatal("the setting did not stay off")
	}
	if !strings.Contains(h.mustRun("show", "keep.example"), "new at each renewal") {
		t.Fatal("show does not report a new key at each renewal")
	}
	// ... and configure turns it back on.
	h.mustRun("configure", "keep.example", "--reuse-key")
	k3, _ := keys()
	h.mustRun("renew", "keep.example", "--force")
	if k4, _ := keys(); !bytes.Equal(k4, k3) {
		t.Fatal("configure --reuse-key did not keep the key")
	}
	if code, _, errs := h.run("renew", "--reuse-key"); code != 2 || !strings.Contains(errs, "needs certificate names") {
		t.Fatalf("renew --reuse-key without names: exit %d, %q", code, errs)
	}
}
