package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/internal/cli"
)

// harness runs certctl commands in-process against one Pebble and one store.
type harness struct {
	t      *testing.T
	srv    *acmetest.Server
	store  string
	caFile string
	root   []byte
}

func newHarness(t *testing.T, opts acmetest.Options) *harness {
	t.Helper()
	srv := acmetest.StartT(t, opts)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "pebble-https-ca.pem")
	if err := os.WriteFile(caFile, srv.ServerCAPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	root, _ := srv.RootPEM()
	return &harness{t: t, srv: srv, store: filepath.Join(dir, "certctl.db"), caFile: caFile, root: root}
}

// globals are the flags every call gets.
func (h *harness) globals() []string {
	return []string{"--store", h.store, "--directory", h.srv.DirectoryURL(), "--ca-cert", h.caFile, "--email", "ops@example.com",
		"--resolver", h.srv.DNSAddr()}
}

func (h *harness) httpAddr() string { return "127.0.0.1:" + strconv.Itoa(h.srv.HTTPPort()) }

// run runs certctl with args and returns exit code, stdout and stderr.
func (h *harness) run(args ...string) (int, string, string) {
	h.t.Helper()
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), &cli.Deps{Stdout: &out, Stderr: &errb}, append(h.globals(), args...))
	return code, out.String(), errb.String()
}

func (h *harness) mustRun(args ...string) string {
	h.t.Helper()
	code, out, errs := h.run(args...)
	if code != 0 {
		h.t.Fatalf("certctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func (h *harness) list() map[string]cli.ListEntry {
	h.t.Helper()
	out := h.mustRun("list", "--output", "json")
	var entries []cli.ListEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		h.t.Fatalf("list JSON: %v\n%s", err, out)
	}
	m := map[string]cli.ListEntry{}
	for _, e := range entries {
		m[e.Name] = e
	}
	return m
}

// verifyExport checks exported files against the CA root, names and modes.
func (h *harness) verifyExport(dir string, names ...string) *x509.Certificate {
	h.t.Helper()
	read := func(f string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			h.t.Fatal(err)
		}
		return b
	}
	leafBlock, _ := pem.Decode(read("cert.pem"))
	leaf, err := x509.ParseCertificate(leafBlock.Bytes)
	if err != nil {
		h.t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(h.root)
	inter := x509.NewCertPool()
	inter.AppendCertsFromPEM(read("chain.pem"))
	for _, n := range names {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: n}); err != nil {
			h.t.Fatalf("exported %s does not verify for %s: %v", dir, n, err)
		}
	}
	if !bytes.Equal(read("fullchain.pem"), append(read("cert.pem"), read("chain.pem")...)) {
		h.t.Fatal("fullchain.pem is not cert.pem + chain.pem")
	}
	st, err := os.Stat(filepath.Join(dir, "privkey.pem"))
	if err != nil || st.Mode().Perm() != 0o600 {
		h.t.Fatalf("privkey.pem mode %v, %v", st.Mode(), err)
	}
	return leaf
}

func TestCLI_Lifecycle(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	out := h.mustRun("issue", "-d", "a.example", "--http-addr", h.httpAddr(), "--agree-tos")
	if !strings.Contains(out, "ISSUED") {
		t.Fatalf("issue output: %s", out)
	}
	h.mustRun("issue", "-d", "b.example", "-d", "www.b.example", "--http-addr", h.httpAddr())
	if st, _ := os.Stat(h.store); st.Mode().Perm() != 0o600 {
		t.Fatalf("store mode %v", st.Mode())
	}

	// Idempotent: no new order.
	orders := h.srv.Orders()
	out = h.mustRun("issue", "-d", "a.example", "--http-addr", h.httpAddr())
	if !strings.Contains(out, "KEPT") || h.srv.Orders() != orders {
		t.Fatalf("second issue: %s (orders %d -> %d)", out, orders, h.srv.Orders())
	}

	table := h.mustRun("list")
	for _, want := range []string{"NAME", "NEXT RENEWAL", "a.example", "b.example,www.b.example", "valid"} {
		if !strings.Contains(table, want) {
			t.Fatalf("list table lacks %q:\n%s", want, table)
		}
	}
	entries := h.list()
	a, b := entries["a.example"], entries["b.example"]
	if a.Serial == "" || a.NotAfter == nil || a.NotBefore == nil || a.NextRenewal == nil || a.RenewalReason == "" || a.Status != "valid" {
		t.Fatalf("list entry incomplete: %+v", a)
	}
	if len(b.Domains) != 2 || b.Domains[1] != "www.b.example" {
		t.Fatalf("b domains = %v", b.Domains)
	}

	// renew: nothing due; --force renews one and changes its serial.
	out = h.mustRun("renew")
	if !strings.Contains(out, "NOT-DUE") || !strings.Contains(out, "0 renewed") {
		t.Fatalf("renew output: %s", out)
	}
	out = h.mustRun("renew", "b.example", "--force")
	if !strings.Contains(out, "RENEWED") || !strings.Contains(out, "replaces "+b.Serial) {
		t.Fatalf("renew --force output: %s", out)
	}
	b2 := h.list()["b.example"]
	if b2.Serial == b.Serial {
		t.Fatal("serial did not change")
	}

	exp := filepath.Join(t.TempDir(), "b")
	h.mustRun("export", "b.example", "--dir", exp)
	leaf := h.verifyExport(exp, "b.example", "www.b.example")
	if got := strings.TrimLeft(leaf.SerialNumber.Text(16), "0"); got != strings.TrimLeft(b2.Serial, "0") {
		t.Fatalf("exported serial %s, listed %s", got, b2.Serial)
	}

	out = h.mustRun("show", "b.example")
	if !strings.Contains(out, b.Serial) || !strings.Contains(out, b2.Serial) {
		t.Fatalf("show lacks versions:\n%s", out)
	}

	h.mustRun("revoke", "b.example", "--reason", "superseded")
	if st, reason, err := h.srv.CertStatus(context.Background(), b2.Serial); err != nil || st != "Revoked" || reason != 4 {
		t.Fatalf("CA status after revoke: %s %d %v", st, reason, err)
	}
	h.mustRun("rollback", "b.example")
	if got := h.list()["b.example"].Serial; got != b.Serial {
		t.Fatalf("after rollback serial %s, want %s", got, b.Serial)
	}
	h.mustRun("remove", "a.example")
	if _, ok := h.list()["a.example"]; ok {
		t.Fatal("a.example still listed after remove")
	}
	accounts := h.mustRun("account", "list", "-o", "json")
	if !strings.Contains(accounts, "ops@example.com") {
		t.Fatalf("account list: %s", accounts)
	}
}

func TestCLI_Issue_DNS01ByProviderName(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	// lego's httpreq provider posts {fqdn, value} to an endpoint of ours,
	// which publishes the record in the test DNS server.
	var presented int
	ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct{ FQDN, Value string }
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		switch r.URL.Path {
		case "/present":
			presented++
			h.srv.SetTXT(m.FQDN, m.Value)
		case "/cleanup":
			h.srv.ClearTXT(m.FQDN)
		}
	}))
	defer ep.Close()
	t.Setenv("HTTPREQ_ENDPOINT", ep.URL)
	t.Setenv("HTTPREQ_POLLING_INTERVAL", "1")
	t.Setenv("HTTPREQ_PROPAGATION_TIMEOUT", "20")
	h.mustRun("issue", "-d", "*.w.example", "-d", "w.example", "--dns", "httpreq",
		"--dns-resolver", h.srv.DNSAddr(), "--agree-tos")
	if presented != 2 {
		t.Fatalf("provider presented %d records, want 2", presented)
	}
	e := h.list()["_.w.example"]
	if e.Status != "valid" || len(e.Domains) != 2 {
		t.Fatalf("wildcard entry: %+v", e)
	}
	exp := filepath.Join(t.TempDir(), "w")
	h.mustRun("export", "_.w.example", "--dir", exp)
	h.verifyExport(exp, "x.w.example", "w.example")
}

func TestCLI_Issue_WebrootAndIDN(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	root := t.TempDir()
	ln, err := net.Listen("tcp", h.httpAddr())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(root))}
	go func() { _ = srv.Serve(ln) }() // the listener accepts from now on
	defer srv.Close()
	h.mustRun("issue", "-d", "bücher.example", "--webroot", root, "--agree-tos")
	e := h.list()["xn--bcher-kva.example"]
	if e.Status != "valid" || e.Domains[0] != "xn--bcher-kva.example" {
		t.Fatalf("IDN entry: %+v", e)
	}
}

func TestCLI_Renew_PartialFailureExit3(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	for _, n := range []string{"p1.example", "p2.example"} {
		h.mustRun("issue", "-d", n, "--http-addr", h.httpAddr(), "--agree-tos")
	}
	// Two refusals: the order with "replaces" and the retry without it.
	h.srv.FailNewOrders(2, http.StatusServiceUnavailable, 0)
	code, out, errs := h.run("renew", "--all", "--force", "--workers", "1")
	if code != cli.ExitPartial {
		t.Fatalf("exit %d, want 3\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "1 failed") || !strings.Contains(out, "FAILED") {
		t.Fatalf("output: %s", out)
	}
	failing := 0
	for _, e := range h.list() {
		if e.Status == "failing" && e.LastError != "" {
			failing++
		}
	}
	if failing != 1 {
		t.Fatalf("%d failing entries, want 1", failing)
	}
}

func sum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestCLI_BadInput(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	h.mustRun("issue", "-d", "ok.example", "--http-addr", h.httpAddr(), "--agree-tos")
	before := sum(t, h.store)
	long := strings.Repeat("a", 64) + ".example"
	var huge []string
	for i := 0; i < 5; i++ {
		huge = append(huge, strings.Repeat("b", 60))
	}
	var many []string
	for i := 0; i < 101; i++ {
		many = append(many, "-d", "n"+strconv.Itoa(i)+".example")
	}
	var tenThousand []string
	for i := 0; i < 10000; i++ {
		tenThousand = append(tenThousand, "-d", "m"+strconv.Itoa(i)+".example")
	}
	bad := t.TempDir()
	bigPEM := filepath.Join(bad, "big.pem") // 10 MB of a repeated certificate block
	if err := os.WriteFile(bigPEM, bytes.Repeat(h.root, 10<<20/len(h.root)+1), 0o644); err != nil {
		t.Fatal(err)
	}
	exportLink := filepath.Join(bad, "exportlink")
	if err := os.Symlink(t.TempDir(), exportLink); err != nil {
		t.Fatal(err)
	}
	hookFile := filepath.Join(bad, "webhook")
	if err := os.WriteFile(hookFile, []byte("ftp://not-http\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ro := t.TempDir()
	notStore := filepath.Join(t.TempDir(), "junk.db")
	junk := []byte("this is not a bbolt database, and must stay exactly like this\n")
	if err := os.WriteFile(notStore, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"no names", []string{"issue"}, 2},
		{"leading hyphen", []string{"issue", "-d", "-bad.example"}, 2},
		{"empty label", []string{"issue", "-d", "a..b.example"}, 2},
		{"long label", []string{"issue", "-d", long}, 2},
		{"long name", []string{"issue", "-d", strings.Join(huge, ".") + ".example"}, 2},
		{"space", []string{"issue", "-d", "a b.example"}, 2},
		{"url", []string{"issue", "-d", "http://x.example"}, 2},
		{"wildcard on http-01", []string{"issue", "-d", "*.x.example"}, 2},
		{"over 100 names", append([]string{"issue"}, many...), 2},
		{"unknown dns provider", []string{"issue", "-d", "x.example", "--dns", "nosuchdns"}, 2},
		{"unknown key type", []string{"issue", "-d", "x.example", "--key-type", "dsa1024"}, 2},
		{"unknown challenge", []string{"issue", "-d", "x.example", "--challenge", "smtp-01"}, 2},
		{"bad email", []string{"issue", "-d", "x.example", "--email", "not-an-email"}, 2},
		{"name with slash", []string{"issue", "-d", "x.example", "--name", "a/b"}, 2},
		{"name with dotdot", []string{"issue", "-d", "x.example", "--name", "..evil"}, 2},
		{"bad output", []string{"list", "--output", "yaml"}, 2},
		{"unknown flag", []string{"list", "--colour"}, 2},
		{"unknown certificate", []string{"show", "nope.example"}, 2},
		{"bad reason", []string{"revoke", "ok.example", "--reason", "bored"}, 2},
		{"renew names and --all", []string{"renew", "ok.example", "--all"}, 2},
		{"hook variable without shell", []string{"issue", "-d", "x.example", "--deploy-hook", "notify $CERTCTL_NAME"}, 2},
		{"unknown hook variable", []string{"issue", "-d", "x.example", "--deploy-hook", "sh -c 'echo $CERTCTL_DOMIAN'"}, 2},
		{"unterminated hook quote", []string{"configure", "ok.example", "--post-hook", "echo 'x"}, 2},
		{"pfx password without pfx", []string{"issue", "-d", "x.example", "--pfx-password-env", "P"}, 2},
		{"pfx-legacy without pfx", []string{"issue", "-d", "x.example", "--export", bad, "--pfx-legacy"}, 2},
		{"bad webhook", []string{"renew", "--webhook", "ftp://x"}, 2},
		{"webhook URL with credentials", []string{"renew", "--webhook", "https://ops:s3cret@127.0.0.1:1/hook"}, 2},
		{"bad webhook in file", []string{"renew", "--webhook-file", hookFile}, 2},
		{"missing webhook file", []string{"renew", "--webhook-file", filepath.Join(bad, "nope")}, 2},
		{"10,000 -d flags", append([]string{"issue"}, tenThousand...), 2},
		{"10 MB PEM as --ca-cert", []string{"issue", "-d", "x.example", "--ca-cert", bigPEM, "--agree-tos"}, 2},
		{"missing --ca-cert", []string{"issue", "-d", "x.example", "--ca-cert", filepath.Join(bad, "nope.pem")}, 2},
		{"symlinked export directory", []string{"export", "ok.example", "--dir", exportLink}, 2},
		{"export without --dir", []string{"export", "ok.example"}, 2},
		{"bad key type rsa512", []string{"issue", "-d", "x.example", "--key-type", "rsa512"}, 2},
		{"bad key type ec999", []string{"issue", "-d", "x.example", "--key-type", "ec999"}, 2},
		{"lock timeout zero", []string{"list", "--lock-timeout", "0s"}, 2},
		{"lock timeout not a duration", []string{"renew", "ok.example", "--lock-timeout", "soon"}, 2},
		{"lock timeout over an hour", []string{"renew", "ok.example", "--lock-timeout", "2h"}, 2},
		{"etcd lock TTL not a duration", []string{"list", "--etcd-lock-ttl", "forever"}, 2},
		{"bad log level", []string{"list", "--log-level", "loud"}, 2},
		{"bad log format", []string{"list", "--log-format", "xml"}, 2},
		{"unknown command", []string{"frobnicate"}, 2},
		{"unknown flag on issue", []string{"issue", "-d", "x.example", "--frobnicate"}, 2},
		{"unknown shorthand", []string{"list", "-Z"}, 2},
		{"flag without its value", []string{"issue", "-d"}, 2},
		{"remove unknown certificate", []string{"remove", "nope.example"}, 2},
		{"remove without a name", []string{"remove"}, 2},
		{"rollback unknown certificate", []string{"rollback", "nope.example"}, 2},
		{"unknown store scheme", []string{"list", "--store", "ftp://127.0.0.1/x"}, 2},
		{"etcd cert without key", []string{"list", "--store", "etcd://127.0.0.1:1/p", "--etcd-cert", hookFile}, 2},
	}
	for _, c := range cases {
		code, out, errs := h.run(c.args...)
		if code != c.code {
			t.Errorf("%s: exit %d, want %d (stdout %q, stderr %q)", c.name, code, c.code, out, errs)
		}
		lines := strings.Split(strings.TrimSpace(errs), "\n")
		if errs == "" || len(lines) > 2 || !strings.HasPrefix(lines[0], "certctl: ") {
			t.Errorf("%s: stderr not one clear line: %q", c.name, errs)
		}
		if sum(t, h.store) != before {
			t.Fatalf("%s: store changed", c.name)
		}
	}

	// Store locations that cannot work.
	var out, errb bytes.Buffer
	run := func(args ...string) int {
		out.Reset()
		errb.Reset()
		return cli.Run(context.Background(), &cli.Deps{Stdout: &out, Stderr: &errb}, args)
	}
	if code := run("list", "--store", filepath.Join(ro, "missing", "x.db")); code != 2 || !strings.Contains(errb.String(), "does not exist") {
		t.Errorf("missing dir: exit %d %q", code, errb.String())
	}
	if code := run("list", "--store", notStore); code != 2 {
		t.Errorf("not a store: exit %d %q", code, errb.String())
	}
	if b, _ := os.ReadFile(notStore); !bytes.Equal(b, junk) {
		t.Fatal("a file that is not a store was modified")
	}
	if os.Geteuid() != 0 {
		if err := os.Chmod(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		if code := run("list", "--store", filepath.Join(ro, "x.db")); code != 2 {
			t.Errorf("read-only dir: exit %d %q", code, errb.String())
		}
	} else {
		readOnlyDirAsNobody(t)
	}

	// Stores that are damaged or unsafe: one line, exit 2, the file
	// byte for byte as it was.
	copyStore := func(name string) string {
		t.Helper()
		d := t.TempDir()
		b, err := os.ReadFile(h.store)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	truncated := copyStore("truncated.db")
	if err := os.Truncate(truncated, 3*4096+100); err != nil {
		t.Fatal(err)
	}
	corrupted := copyStore("corrupted.db")
	if b, err := os.ReadFile(corrupted); err != nil || len(b) < 6*4096 {
		t.Fatalf("store of %d bytes: %v", len(b), err)
	} else {
		for i := 2 * 4096; i < len(b); i++ { // keep the meta pages, scramble every page after them
			b[i] ^= byte(0xa5 + i)
		}
		if err := os.WriteFile(corrupted, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	openLocks := copyStore("openlocks.db")
	if err := os.Mkdir(openLocks+".locks", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(openLocks+".locks", 0o777); err != nil {
		t.Fatal(err)
	}
	// A sealed store, and a key that is not its key.
	sealed := copyStore("sealed.db")
	keyDir := t.TempDir()
	sealKey, wrongKey := filepath.Join(keyDir, "store.key"), filepath.Join(keyDir, "wrong.key")
	h.mustRun("store", "keygen", sealKey)
	h.mustRun("store", "keygen", wrongKey)
	h.mustRun("--store", sealed, "--store-key-file", sealKey, "store", "seal")
	exportTo := t.TempDir()
	linked := filepath.Join(t.TempDir(), "linked.db")
	if err := os.Symlink(copyStore("target.db"), linked); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		store string
		args  []string
	}{
		{"truncated store", truncated, []string{"list"}},
		{"truncated store, show", truncated, []string{"show", "ok.example"}},
		{"store with corrupted pages", corrupted, []string{"list"}},
		{"store with corrupted pages, renew", corrupted, []string{"renew", "ok.example", "--force"}},
		{"world-writable lock directory", openLocks, []string{"renew", "ok.example", "--force"}},
		{"world-writable lock directory, remove", openLocks, []string{"remove", "ok.example"}},
		{"store path is a symlink", linked, []string{"list"}},
		{"sealed store without its key, export", sealed, []string{"export", "ok.example", "--dir", exportTo}},
		{"sealed store without its key, renew", sealed, []string{"renew", "ok.example", "--force"}},
		{"sealed store with a wrong key, export", sealed, []string{"--store-key-file", wrongKey, "export", "ok.example", "--dir", exportTo}},
		{"sealed store with a wrong key, renew", sealed, []string{"--store-key-file", wrongKey, "renew", "ok.example", "--force"}},
	} {
		before := sum(t, c.store)
		code := run(append([]string{"--store", c.store, "--directory", h.srv.DirectoryURL(), "--ca-cert", h.caFile}, c.args...)...)
		lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
		if code != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], "certctl: ") || strings.Contains(errb.String(), "panic") {
			t.Errorf("%s: exit %d, stderr %q (stdout %q)", c.name, code, errb.String(), out.String())
		}
		if sum(t, c.store) != before {
			t.Errorf("%s: store changed", c.name)
		}
	}

	// A directory on a closed port fails within seconds with exit 1.
	start := time.Now()
	code := run("issue", "-d", "x.example", "--store", h.store, "--directory", "https://127.0.0.1:1/dir", "--agree-tos", "--http-addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(out.String(), "unreachable") || time.Since(start) > 15*time.Second ||
		strings.TrimSpace(errb.String()) != "certctl: issue failed (reported above)" {
		t.Errorf("closed port: exit %d after %v: stdout %q stderr %q", code, time.Since(start), out.String(), errb.String())
	}
	if sum(t, h.store) != before {
		t.Fatal("unreachable CA: store changed")
	}
}

func TestCLI_AccountRegisterAndCACertFromEnv(t *testing.T) {
	h := newHarness(t, acmetest.Options{Profiles: map[string]time.Duration{"shortlived": 6 * time.Hour}})
	var out, errb bytes.Buffer
	deps := &cli.Deps{Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
		return map[string]string{"CERTCTL_CA_CERT": h.caFile, "CERTCTL_DIRECTORY": h.srv.DirectoryURL(),
			"CERTCTL_STORE": h.store, "CERTCTL_EMAIL": "env@example.com"}[k]
	}}
	if code := cli.Run(context.Background(), deps, []string{"account", "register"}); code != 2 {
		t.Fatalf("register without --agree-tos: exit %d %s", code, errb.String())
	}
	if code := cli.Run(context.Background(), deps, []string{"account", "register", "--agree-tos", "-o", "json"}); code != 0 {
		t.Fatalf("register: exit %d %s", code, errb.String())
	}
	var acct struct{ Directory, Email, URI string }
	if err := json.Unmarshal(out.Bytes(), &acct); err != nil || acct.URI == "" || acct.Email != "env@example.com" {
		t.Fatalf("register output %q: %v", out.String(), err)
	}
	// A profile is passed to the CA: Pebble's "shortlived" gives 6 hours.
	out.Reset()
	if code := cli.Run(context.Background(), deps, []string{"issue", "-d", "prof.example", "--profile", "shortlived",
		"--http-addr", h.httpAddr()}); code != 0 {
		t.Fatalf("issue with profile: exit %d %s", code, errb.String())
	}
	e := h.list()["prof.example"]
	if life := e.NotAfter.Sub(*e.NotBefore); life > 6*time.Hour+time.Minute || life < 5*time.Hour {
		t.Fatalf("profile not applied: lifetime %v", life)
	}
}

func TestBinary_Sandbox(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	listen, httpAddr := freeAddr(t), freeAddr(t)
	_, httpPort, _ := net.SplitHostPort(httpAddr)
	_, tlsPort, _ := net.SplitHostPort(freeAddr(t))
	cmd := exec.Command(bin, "sandbox", "--listen", listen, "--http-port", httpPort, "--tls-port", tlsPort,
		"--validity", "1h", "--ca-out", filepath.Join(dir, "ca.pem"), "--root-out", filepath.Join(dir, "root.pem"))
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	sc := bufio.NewScanner(stdout)
	dirURL := ""
	for sc.Scan() {
		if u, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "directory: "); ok {
			dirURL = u
			break
		}
	}
	if dirURL != "https://"+listen+"/dir" {
		t.Fatalf("sandbox printed directory %q", dirURL)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	run := exec.Command(bin, "--store", filepath.Join(dir, "s.db"), "--directory", dirURL, "--ca-cert", filepath.Join(dir, "ca.pem"),
		"issue", "-d", "sandbox.test", "--http-addr", httpAddr, "--agree-tos", "-o", "json")
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("issue against the sandbox: %v\n%s", err, out)
	}
	exp := filepath.Join(dir, "exp")
	if out, err := exec.Command(bin, "--store", filepath.Join(dir, "s.db"), "export", "sandbox.test", "--dir", exp).CombinedOutput(); err != nil {
		t.Fatalf("export: %v %s", err, out)
	}
	root, _ := os.ReadFile(filepath.Join(dir, "root.pem"))
	h := &harness{t: t, root: root}
	leaf := h.verifyExport(exp, "sandbox.test")
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life > time.Hour+time.Minute || life < 59*time.Minute {
		t.Fatalf("--validity not applied: %v", life)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sandbox exit after SIGTERM: %v", err)
	}
}

// readOnlyDirAsNobody runs the built binary as user nobody (root can write
// anywhere) against a store in a directory it cannot write.
func readOnlyDirAsNobody(t *testing.T) {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Log("setpriv not found: read-only directory checked only when not root")
		return
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	base, err := os.MkdirTemp("", "certctl-ro-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	ro := filepath.Join(base, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{base, filepath.Dir(bin)} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(setpriv, "--reuid", "nobody", "--regid", "nogroup", "--clear-groups", bin,
		"--store", filepath.Join(ro, "x.db"), "list")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || strings.Count(strings.TrimSpace(string(out)), "\n") > 0 {
		t.Errorf("read-only dir as nobody: %v, output %q", err, out)
	}
	if entries, _ := os.ReadDir(ro); len(entries) != 0 {
		t.Errorf("files created in a read-only directory: %v", entries)
	}
}

// The JSON of `certctl list` has exactly the documented keys (README.md):
// scripts rely on them, so a rename or removal must fail here.
func TestCLI_List_JSONSchema(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	h.mustRun("issue", "-d", "schema.example", "--http-addr", h.httpAddr(), "--agree-tos")
	var rows []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(h.mustRun("list", "--output", "json")), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("list JSON: %v (%d rows)", err, len(rows))
	}
	want := []string{"attempts", "challenge", "directory", "domains", "key_type", "last_error", "name", "next_renewal",
		"not_after", "not_before", "renewal_reason", "serial", "status", "versions"}
	got := slices.Sorted(maps.Keys(rows[0]))
	if !slices.Equal(got, want) {
		t.Fatalf("list keys %v, want %v", got, want)
	}
}
