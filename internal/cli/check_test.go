package cli_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/internal/cli"
)

// issueExport issues name with the CLI into the harness's store and returns
// its exported key pair.
func (h *harness) issueExport(name string) tls.Certificate {
	h.t.Helper()
	h.mustRun("issue", "-d", name, "--http-addr", h.httpAddr(), "--agree-tos")
	return h.exportPair(name)
}

// exportPair exports name's active version and loads it.
func (h *harness) exportPair(name string) tls.Certificate {
	h.t.Helper()
	dir := h.t.TempDir()
	h.mustRun("export", name, "--dir", dir)
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem"))
	if err != nil {
		h.t.Fatal(err)
	}
	return pair
}

// rootFile writes the CA's issuing root to a file for --root.
func (h *harness) rootFile() string {
	h.t.Helper()
	f := filepath.Join(h.t.TempDir(), "root.pem")
	if err := os.WriteFile(f, h.root, 0o644); err != nil {
		h.t.Fatal(err)
	}
	return f
}

// serveTLS runs a TLS server with cfg on 127.0.0.1 and returns its address.
// Each connection is handshaken and drained until the client closes it.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if c.(*tls.Conn).Handshake() == nil {
					_, _ = io.Copy(io.Discard, c)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// check runs certctl check -o json and decodes its output.
func (h *harness) check(args ...string) (int, cli.CheckJSON, string) {
	h.t.Helper()
	code, out, errs := h.run(append([]string{"check", "-o", "json"}, args...)...)
	var j cli.CheckJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		h.t.Fatalf("check JSON (exit %d): %v\nstdout: %s\nstderr: %s", code, err, out, errs)
	}
	if j.ExitCode != code || len(j.Targets) == 0 {
		h.t.Fatalf("check exit %d, JSON says %d, %d targets\n%s", code, j.ExitCode, len(j.Targets), out)
	}
	return code, j, out
}

func hasProblem(tg cli.CheckTarget, status, text string) bool {
	return slices.ContainsFunc(tg.Problems, func(p cli.CheckProblem) bool {
		return p.Status == status && strings.Contains(p.Message, text)
	})
}

func TestCheck_SameSerial_OK(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	pair := h.issueExport("a.example")
	addr := serveTLS(t, &tls.Config{Certificates: []tls.Certificate{pair}})
	root := h.rootFile()

	code, j, out := h.check(addr, "--name", "a.example", "--root", root)
	if code != 0 || j.Status != "ok" {
		t.Fatalf("exit %d status %s\n%s", code, j.Status, out)
	}
	tg := j.Targets[0]
	serial := h.list()["a.example"].Serial
	if tg.Serial != serial || tg.Store == nil || tg.Store.Match != "same" || tg.Store.Name != "a.example" || tg.Store.ActiveVersion != 1 {
		t.Fatalf("served %s, stored %s, store %+v", tg.Serial, serial, tg.Store)
	}
	if !tg.Verified || tg.VerifyError != "" || len(tg.Chain) != 2 || tg.Chain[0].Serial != serial {
		t.Fatalf("chain: verified %v %q, %d certificates", tg.Verified, tg.VerifyError, len(tg.Chain))
	}
	if !slices.Equal(tg.Names, []string{"a.example"}) || tg.KeyType != "ECDSA P-256" || tg.DaysLeft == nil || *tg.DaysLeft < 88 {
		t.Fatalf("names %v key %s days %v", tg.Names, tg.KeyType, tg.DaysLeft)
	}
	// Go's server defaults: TLS 1.2 and 1.3, ECDHE suites only.
	if !slices.Equal(tg.Versions, []string{"TLS 1.2", "TLS 1.3"}) || tg.ClientAuth != "none" || len(tg.Problems) != 0 {
		t.Fatalf("versions %v client auth %s problems %v", tg.Versions, tg.ClientAuth, tg.Problems)
	}
	if s := tg.CipherSuites["TLS 1.2"]; !slices.Contains(s, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256") || slices.ContainsFunc(s, func(n string) bool { return strings.Contains(n, "RSA_WITH") && !strings.Contains(n, "ECDHE") }) {
		t.Fatalf("TLS 1.2 suites %v", s)
	}
	if len(tg.CipherSuites["TLS 1.3"]) != 1 {
		t.Fatalf("TLS 1.3 suites %v", tg.CipherSuites["TLS 1.3"])
	}

	// No --name with an IP address: no SNI, and the address is what is
	// verified; the certificate names none, yet it is found by serial.
	code, j, out = h.check(addr, "--root", root)
	tg = j.Targets[0]
	if code != 2 || tg.ServerName != "" || tg.Verified || !strings.Contains(tg.VerifyError, "127.0.0.1") ||
		tg.Store == nil || tg.Store.Match != "same" {
		t.Fatalf("no --name: exit %d\n%s", code, out)
	}

	// The text form: a summary line first, as monitoring systems read it.
	code, text, _ := h.run("check", addr, "--name", "a.example", "--root", root)
	if code != 0 || !strings.HasPrefix(text, "OK - "+addr+" name a.example: serial ") || !strings.Contains(text, "same: same serial") {
		t.Fatalf("exit %d\n%s", code, text)
	}
}

func TestCheck_StoreHasNewerVersion_Warning(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	old := h.issueExport("a.example")
	addr := serveTLS(t, &tls.Config{Certificates: []tls.Certificate{old}})
	h.mustRun("renew", "a.example", "--force")

	code, j, out := h.check(addr, "--name", "a.example", "--root", h.rootFile())
	tg := j.Targets[0]
	if code != 1 || j.Status != "warning" || tg.Store == nil || tg.Store.Match != "store_newer" ||
		tg.Store.ServedVersion != 1 || tg.Store.ActiveVersion != 2 || tg.Store.ActiveSerial != h.list()["a.example"].Serial {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if !hasProblem(tg, "warning", "has not loaded it") {
		t.Fatalf("problems %v", tg.Problems)
	}
	_, _, errs := h.run("check", addr, "--name", "a.example", "--root", h.rootFile())
	if strings.TrimSpace(errs) != "certctl: check: WARNING (reported above)" {
		t.Fatalf("stderr %q", errs)
	}

	// The server reloads: OK.
	addr2 := serveTLS(t, &tls.Config{Certificates: []tls.Certificate{h.exportPair("a.example")}})
	if code, j, out := h.check(addr2, "--name", "a.example", "--root", h.rootFile()); code != 0 || j.Targets[0].Store.Match != "same" {
		t.Fatalf("after reload exit %d\n%s", code, out)
	}
}

func TestCheck_Expiry_WarningCritical(t *testing.T) {
	h := newHarness(t, acmetest.Options{Validity: 10 * 24 * time.Hour})
	addr := serveTLS(t, &tls.Config{Certificates: []tls.Certificate{h.issueExport("a.example")}})
	root := h.rootFile()

	code, j, out := h.check(addr, "--name", "a.example", "--root", root)
	if code != 1 || !hasProblem(j.Targets[0], "warning", "within --warning 21 days") {
		t.Fatalf("default thresholds: exit %d\n%s", code, out)
	}
	code, j, out = h.check(addr, "--name", "a.example", "--root", root, "--warning", "30", "--critical", "11")
	if code != 2 || j.Status != "critical" || !hasProblem(j.Targets[0], "critical", "within --critical 11 days") {
		t.Fatalf("--critical 11: exit %d\n%s", code, out)
	}
	code, _, out = h.check(addr, "--name", "a.example", "--root", root, "--warning", "5", "--critical", "2")
	if code != 0 {
		t.Fatalf("--warning 5: exit %d\n%s", code, out)
	}
}

func TestCheck_Unverifiable_CriticalWithDetails(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	addr := serveTLS(t, &tls.Config{Certificates: []tls.Certificate{h.issueExport("a.example")}})

	// Pebble's root is not among the system's.
	code, j, out := h.check(addr, "--name", "a.example")
	tg := j.Targets[0]
	if code != 2 || tg.Verified || tg.VerifyError == "" || tg.TrustedRoots != "system" || !hasProblem(tg, "critical", "does not verify") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if tg.Serial == "" || tg.Store.Match != "same" || len(tg.Versions) == 0 {
		t.Fatalf("details missing\n%s", out)
	}
	// A name the certificate does not cover.
	code, j, out = h.check(addr, "--name", "other.example", "--root", h.rootFile())
	if code != 2 || !hasProblem(j.Targets[0], "critical", "other.example") || j.Targets[0].Store.Match != "same" {
		t.Fatalf("other name: exit %d\n%s", code, out)
	}
}

func TestCheck_ClientCertificateRequest(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	pair := h.issueExport("a.example")
	root := h.rootFile()
	clientCAs := x509.NewCertPool()
	roots, _ := h.srv.RootPEM()
	clientCAs.AppendCertsFromPEM(roots)

	for _, tc := range []struct {
		name   string
		cfg    *tls.Config
		want   string
		issuer bool
	}{
		{"none", &tls.Config{}, "none", false},
		{"requested", &tls.Config{ClientAuth: tls.RequestClientCert}, "requested", false},
		{"required", &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs}, "required", true},
		{"required TLS 1.3 only", &tls.Config{ClientAuth: tls.RequireAnyClientCert, MinVersion: tls.VersionTLS13}, "required", false},
		{"requested TLS 1.3 only", &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS13}, "requested", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg.Clone()
			cfg.Certificates = []tls.Certificate{pair}
			addr := serveTLS(t, cfg)
			code, j, out := h.check(addr, "--name", "a.example", "--root", root)
			tg := j.Targets[0]
			if code != 0 || tg.ClientAuth != tc.want || tg.Serial == "" {
				t.Fatalf("exit %d client_auth %q, want %q\n%s", code, tg.ClientAuth, tc.want, out)
			}
			if tc.issuer != (len(tg.ClientCAs) == 1 && strings.Contains(tg.ClientCAs[0], "Pebble Root CA")) {
				t.Fatalf("client CAs %v", tg.ClientCAs)
			}
		})
	}
}

func TestCheck_TLS12Only_ReportedAccurately(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	pair := h.issueExport("a.example")
	suites := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}
	addr := serveTLS(t, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12,
		CipherSuites: suites})
	code, j, out := h.check(addr, "--name", "a.example", "--root", h.rootFile())
	tg := j.Targets[0]
	want := []string{tls.CipherSuiteName(suites[0]), tls.CipherSuiteName(suites[1])}
	got := slices.Clone(tg.CipherSuites["TLS 1.2"])
	slices.Sort(got)
	slices.Sort(want)
	if code != 0 || !slices.Equal(tg.Versions, []string{"TLS 1.2"}) || !slices.Equal(got, want) || len(tg.CipherSuites) != 1 {
		t.Fatalf("exit %d versions %v suites %v, want %v\n%s", code, tg.Versions, tg.CipherSuites, want, out)
	}

	// A server that still accepts TLS 1.0 and an insecure suite: warnings.
	addr = serveTLS(t, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS10,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}})
	code, j, out = h.check(addr, "--name", "a.example", "--root", h.rootFile())
	tg = j.Targets[0]
	if code != 1 || !slices.Equal(tg.Versions, []string{"TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"}) ||
		!hasProblem(tg, "warning", "accepts TLS 1.0") || !hasProblem(tg, "warning", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256") ||
		!slices.Equal(tg.CipherSuites["TLS 1.0"], []string{"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"}) {
		t.Fatalf("legacy server: exit %d\n%s", code, out)
	}

	// An RSA server that accepts only suites Go's client does not offer
	// by default (RSA key exchange, 3DES), in TLS 1.0 to 1.2.
	h.mustRun("issue", "-d", "rsa.example", "--key-type", "rsa2048", "--http-addr", h.httpAddr())
	addr = serveTLS(t, &tls.Config{Certificates: []tls.Certificate{h.exportPair("rsa.example")}, MinVersion: tls.VersionTLS10,
		MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256}})
	code, j, out = h.check(addr, "--name", "rsa.example", "--root", h.rootFile())
	tg = j.Targets[0]
	if code != 1 || tg.KeyType != "RSA 2048" || !slices.Equal(tg.Versions, []string{"TLS 1.0", "TLS 1.1", "TLS 1.2"}) ||
		!slices.Equal(tg.CipherSuites["TLS 1.0"], []string{"TLS_RSA_WITH_3DES_EDE_CBC_SHA"}) ||
		len(tg.CipherSuites["TLS 1.2"]) != 2 || !hasProblem(tg, "warning", "TLS_RSA_WITH_3DES_EDE_CBC_SHA") {
		t.Fatalf("RSA legacy server: exit %d\n%s", code, out)
	}
}

func TestCheck_SeveralNames(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	a, b := h.issueExport("a.example"), h.issueExport("b.example")
	addr := serveTLS(t, &tls.Config{Certificates: []tls.Certificate{a, b}})
	h.mustRun("renew", "b.example", "--force")

	code, j, out := h.check(addr, "--name", "a.example", "--name", "b.example", "--root", h.rootFile())
	if code != 1 || len(j.Targets) != 2 || j.Targets[0].Status != "ok" || j.Targets[1].Status != "warning" ||
		j.Targets[0].Store.Name != "a.example" || j.Targets[1].Store.Match != "store_newer" {
		t.Fatalf("exit %d\n%s", code, out)
	}
	_, text, _ := h.run("check", addr, "--name", "a.example", "--name", "b.example", "--root", h.rootFile())
	if !strings.HasPrefix(text, "WARNING - "+addr+" name b.example: the store has a newer version") || !strings.Contains(text, "(2 names checked)") {
		t.Fatalf("text:\n%s", text)
	}
}

func TestCheck_NoServer_CriticalAndBadInput_Unknown(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	code, j, out := h.check(addr, "--name", "a.example")
	if code != 2 || j.Targets[0].Error == "" || j.Targets[0].Store != nil {
		t.Fatalf("closed port: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{
		{"check"},
		{"check", "127.0.0.1:99999"},
		{"check", addr, "--warning", "3", "--critical", "7"},
		{"check", addr, "--root", filepath.Join(t.TempDir(), "missing.pem")},
		{"check", addr, "--no-such-flag"},
		{"check", addr, "-o", "yaml"},
	} {
		code, _, errs := h.run(args...)
		if code != 3 || !strings.HasPrefix(errs, "certctl: ") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
	}
	// The store is only read: checking with a store that does not exist
	// leaves none behind.
	missing := filepath.Join(t.TempDir(), "none.db")
	code, out, _ = h.run("check", addr, "--store", missing)
	if _, err := os.Stat(missing); code != 2 || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("exit %d, store %v\n%s", code, err, out)
	}
}
