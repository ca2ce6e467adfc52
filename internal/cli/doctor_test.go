package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/internal/cli"
	"github.com/certctl/certctl/store"
)

// systemctlStub answers `systemctl is-active SERVICE TIMER` with states and
// `systemctl show TIMER ...` with lastTrigger.
func systemctlStub(service, timer, lastTrigger string) func(context.Context, ...string) (string, error) {
	return func(_ context.Context, args ...string) (string, error) {
		switch args[0] {
		case "is-active":
			out := service + "\n" + timer + "\n"
			if service != "active" || timer != "active" {
				return out, errors.New("exit status 3")
			}
			return out, nil
		case "show":
			return lastTrigger + "\n", nil
		}
		return "", fmt.Errorf("unexpected systemctl %v", args)
	}
}

// doctorRun is one run of certctl doctor -o json with deps set by the test.
type doctorRun struct {
	systemctl func(context.Context, ...string) (string, error)
	now       func() time.Time
}

func (h *harness) doctor(r doctorRun, args ...string) (int, cli.DoctorJSON, string) {
	h.t.Helper()
	if r.systemctl == nil {
		r.systemctl = systemctlStub("active", "inactive", "")
	}
	var out, errb bytes.Buffer
	deps := &cli.Deps{Stdout: &out, Stderr: &errb, Systemctl: r.systemctl, Now: r.now}
	code := cli.Run(context.Background(), deps, append(h.globals(), append([]string{"doctor", "-o", "json"}, args...)...))
	var j cli.DoctorJSON
	if err := json.Unmarshal(out.Bytes(), &j); err != nil {
		h.t.Fatalf("doctor JSON (exit %d): %v\nstdout: %s\nstderr: %s", code, err, out.String(), errb.String())
	}
	return code, j, out.String() + errb.String()
}

// find returns the check called check about subject.
func find(t *testing.T, j cli.DoctorJSON, check, subject string) cli.DoctorCheck {
	t.Helper()
	for _, c := range j.Checks {
		if c.Check == check && c.Subject == subject {
			return c
		}
	}
	t.Fatalf("no check %q %q in %+v", check, subject, j.Checks)
	return cli.DoctorCheck{}
}

// want fails unless check about subject has status and its detail and fix
// contain texts.
func want(t *testing.T, j cli.DoctorJSON, check, subject, status string, texts ...string) {
	t.Helper()
	c := find(t, j, check, subject)
	if c.Status != status {
		t.Fatalf("%s %s: %s, want %s: %s; fix: %s", check, subject, c.Status, status, c.Detail, c.Fix)
	}
	for _, s := range texts {
		if !strings.Contains(c.Detail+"; fix: "+c.Fix, s) {
			t.Fatalf("%s %s lacks %q: %s; fix: %s", check, subject, s, c.Detail, c.Fix)
		}
	}
}

func TestDoctor_Healthy_OK(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	h.mustRun("issue", "-d", "doc-ok.example", "-d", "www.doc-ok.example", "--http-addr", h.httpAddr(), "--agree-tos")

	code, j, out := h.doctor(doctorRun{})
	if code != 0 || j.Status != "ok" {
		t.Fatalf("exit %d\n%s", code, out)
	}
	want(t, j, "store", "", "ok", "mode 0600, 1 certificate")
	want(t, j, "store-locks", "", "ok", "mode 0700")
	want(t, j, "service", "", "ok", "certctl.service is active")
	want(t, j, "last-run", "", "ok", "newest renewal attempt", "(doc-ok.example)")
	want(t, j, "ca", h.srv.DirectoryURL(), "ok", "clocks agree")
	want(t, j, "renewal", "doc-ok.example", "ok", "valid until")
	want(t, j, "dns", "doc-ok.example", "ok", "resolves to 127.0.0.1")
	want(t, j, "dns", "www.doc-ok.example", "ok")
	want(t, j, "port", "doc-ok.example", "ok", h.httpAddr()+" is free")

	// The text form: one line per check.
	code, text, _ := h.run("doctor")
	if code == 0 {
		// The real systemctl (or none): only look at the lines' shape.
		t.Log("doctor passed with this host's systemd")
	}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if !strings.HasPrefix(line, "OK    ") && !strings.HasPrefix(line, "WARN  ") && !strings.HasPrefix(line, "FAIL  ") {
			t.Fatalf("line %q\n%s", line, text)
		}
	}
	if !strings.Contains(text, "OK    dns doc-ok.example ") {
		t.Fatalf("text:\n%s", text)
	}
}

func TestDoctor_BadModes_Fail(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	h.mustRun("issue", "-d", "doc-modes.example", "--http-addr", h.httpAddr(), "--agree-tos")
	locks := h.store + ".locks"
	if err := os.Chmod(h.store, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(locks, 0o755); err != nil {
		t.Fatal(err)
	}
	code, j, out := h.doctor(doctorRun{})
	if code != 1 || j.Status != "fail" || !strings.Contains(out, "certctl: doctor: 2 of ") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	want(t, j, "store", "", "fail", "mode 0644", "other users can read the private keys", "chmod 600 "+h.store)
	want(t, j, "store-locks", "", "fail", "mode 0755", "chmod 700 "+locks)
	// Opening the store narrowed its mode (as every certctl command does):
	// doctor says so, and the next run is clean for the file.
	want(t, j, "store", "", "fail", "just narrowed it to 0600")
	if err := os.Chmod(locks, 0o700); err != nil {
		t.Fatal(err)
	}
	if code, j, out := h.doctor(doctorRun{}); code != 0 || find(t, j, "store", "").Status != "ok" {
		t.Fatalf("after fixing: exit %d\n%s", code, out)
	}
}

func TestDoctor_DNS_NoRecordsAndElsewhere(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	h.mustRun("issue", "-d", "doc-none.example", "-d", "doc-away.example", "--http-addr", h.httpAddr(), "--agree-tos")
	records(t, h, "doc-none.example", func() { h.srv.SetAddrs("doc-none.example") })
	records(t, h, "doc-away.example", func() { h.srv.SetAddrs("doc-away.example", netip.MustParseAddr("192.0.2.10")) })

	code, j, out := h.doctor(doctorRun{})
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	want(t, j, "dns", "doc-none.example", "fail", "has no A or AAAA record", "add one with this host's address")
	want(t, j, "dns", "doc-away.example", "warn", "resolves to 192.0.2.10, not to 127.0.0.1, where the responder listens",
		"forwarded to this host")
}

func TestDoctor_BusyPort_NamesHolder(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	h.mustRun("issue", "-d", "doc-port.example", "--http-addr", h.httpAddr(), "--agree-tos")
	ln, err := net.Listen("tcp", h.httpAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, j, out := h.doctor(doctorRun{})
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	want(t, j, "port", "doc-port.example", "fail", "port "+h.httpAddr()+" is in use by "+selfComm(), "stop that program", "--webroot")

	// The daemon's --http-addr replaces the certificate's own.
	free := freeAddr(t)
	code, j, out = h.doctor(doctorRun{}, "--http-addr", free)
	if code != 0 {
		t.Fatalf("--http-addr %s: exit %d\n%s", free, code, out)
	}
	want(t, j, "port", "doc-port.example", "ok", free+" is free")
}

func TestDoctor_Webroot(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	webroot := t.TempDir()
	// The web server the CA reaches on its http-01 port serves webroot.
	srv := &http.Server{Handler: http.FileServer(http.Dir(webroot))}
	ln, err := net.Listen("tcp", h.httpAddr())
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	h.mustRun("issue", "-d", "doc-web.example", "--webroot", webroot, "--agree-tos")
	port := fmt.Sprint(h.srv.HTTPPort())

	code, j, out := h.doctor(doctorRun{}, "--http-port", port)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	want(t, j, "webroot", "doc-web.example", "ok", "serves "+webroot)
	if left, _ := filepath.Glob(filepath.Join(webroot, ".well-known", "acme-challenge", "certctl-doctor-*")); len(left) != 0 {
		t.Fatalf("doctor left %v", left)
	}

	// The web server goes away.
	_ = srv.Close()
	code, j, out = h.doctor(doctorRun{}, "--http-port", port)
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	want(t, j, "webroot", "doc-web.example", "fail", "refused", "run the web server that serves "+webroot)

	// Another web server, serving another directory.
	other := &http.Server{Handler: http.FileServer(http.Dir(t.TempDir()))}
	ln, err = net.Listen("tcp", h.httpAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	go func() { _ = other.Serve(ln) }()
	_, j, _ = h.doctor(doctorRun{}, "--http-port", port)
	want(t, j, "webroot", "doc-web.example", "fail", "HTTP 404")
}

func TestDoctor_ClockSkewAndOverdue(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	h.mustRun("issue", "-d", "doc-clock.example", "--http-addr", h.httpAddr(), "--agree-tos")

	ahead := func() time.Time { return time.Now().Add(2 * time.Minute) }
	code, j, out := h.doctor(doctorRun{now: ahead})
	if code != 0 || j.Status != "warn" {
		t.Fatalf("exit %d\n%s", code, out)
	}
	want(t, j, "ca", h.srv.DirectoryURL(), "warn", "this host's clock is ", "ahead of the CA's", "timedatectl")
	// The CA's Date has whole seconds: the skew is known to a second.
	skewIs(t, find(t, j, "ca", h.srv.DirectoryURL()).Detail, "1m59s", "2m0s", "2m1s")
	behind := func() time.Time { return time.Now().Add(-40 * time.Second) }
	_, j, _ = h.doctor(doctorRun{now: behind})
	want(t, j, "ca", h.srv.DirectoryURL(), "warn", "behind the CA's")
	skewIs(t, find(t, j, "ca", h.srv.DirectoryURL()).Detail, "39s", "40s", "41s")
	_, j, _ = h.doctor(doctorRun{now: behind}, "--max-skew", "1m")
	want(t, j, "ca", h.srv.DirectoryURL(), "ok")

	// 80 days on, the 90-day certificate has been due for weeks and nothing
	// tried to renew it.
	later := func() time.Time { return time.Now().Add(80 * 24 * time.Hour) }
	code, j, out = h.doctor(doctorRun{now: later})
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	want(t, j, "last-run", "", "fail", "doc-clock.example (due ", "start the daemon or the timer")
	// 91 days on it has expired.
	_, j, _ = h.doctor(doctorRun{now: func() time.Time { return time.Now().Add(91 * 24 * time.Hour) }})
	want(t, j, "renewal", "doc-clock.example", "fail", "expired")
}

// skewIs fails unless detail says the clock is off by one of skews.
func skewIs(t *testing.T, detail string, skews ...string) {
	t.Helper()
	for _, s := range skews {
		if strings.Contains(detail, "clock is "+s+" ") {
			return
		}
	}
	t.Fatalf("skew in %q is none of %v", detail, skews)
}

func TestDoctor_Service(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	h.mustRun("issue", "-d", "doc-svc.example", "--http-addr", h.httpAddr(), "--agree-tos")
	recent := time.Now().Add(-3 * time.Hour).UTC().Format("Mon 2006-01-02 15:04:05 MST")
	old := time.Now().Add(-50 * time.Hour).UTC().Format("Mon 2006-01-02 15:04:05 MST")
	missing := func(context.Context, ...string) (string, error) { return "", exec.ErrNotFound }
	for _, tc := range []struct {
		name      string
		systemctl func(context.Context, ...string) (string, error)
		status    string
		text      string
	}{
		{"daemon active", systemctlStub("active", "inactive", ""), "ok", "certctl.service is active"},
		{"timer ran recently", systemctlStub("inactive", "active", recent), "ok", "certctl-renew.timer is active, last ran"},
		{"timer ran long ago", systemctlStub("inactive", "active", old), "warn", "ago"},
		{"timer never ran", systemctlStub("inactive", "active", "n/a"), "warn", "has not run yet"},
		{"daemon failed", systemctlStub("failed", "inactive", ""), "fail", "has failed"},
		{"nothing", systemctlStub("inactive", "inactive", ""), "fail", "nothing renews the certificates"},
		{"no systemd", missing, "warn", "no systemctl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, j, out := h.doctor(doctorRun{systemctl: tc.systemctl})
			want(t, j, "service", "", tc.status, tc.text)
			if (code == 1) != (tc.status == "fail") {
				t.Fatalf("exit %d\n%s", code, out)
			}
		})
	}
}

func TestDoctor_DNS01Provider(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	db, err := store.Open(h.store, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, prov := range map[string]string{"doc-exec.example": "exec", "doc-unknown.example": "no-such-provider"} {
		c := &store.Certificate{Name: name, Domains: []string{"*." + name, name}, KeyType: "ec256", Directory: h.srv.DirectoryURL(),
			Challenge: store.Challenge{Type: "dns-01", DNSProvider: prov}}
		if err := db.Put(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("EXEC_PATH", "")
	_, j, _ := h.doctor(doctorRun{})
	want(t, j, "dns-provider", "doc-exec.example", "fail", "EXEC_PATH", "Environment=")
	want(t, j, "dns-provider", "doc-unknown.example", "fail", "no-such-provider", "lego's provider names")
	want(t, j, "renewal", "doc-exec.example", "warn", "no certificate issued yet")
	for _, c := range j.Checks {
		if c.Check == "dns" || c.Check == "port" {
			t.Fatalf("dns-01 certificates need no %s check: %+v", c.Check, c)
		}
	}
	t.Setenv("EXEC_PATH", "/bin/true")
	_, j, _ = h.doctor(doctorRun{})
	want(t, j, "dns-provider", "doc-exec.example", "ok", "dns-01 through exec")
}

func TestDoctor_NoStore_CAUnreachable(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := "https://" + ln.Addr().String() + "/dir"
	ln.Close()
	missing := filepath.Join(t.TempDir(), "none.db")
	code, j, out := h.doctor(doctorRun{systemctl: systemctlStub("inactive", "inactive", "")}, "--store", missing, "--directory", dir)
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	want(t, j, "store", "", "fail", missing+" does not exist", "--store or CERTCTL_STORE")
	want(t, j, "ca", dir, "fail", "unreachable", "check --directory")
	// No certificates: nothing to renew yet, so no daemon is a warning.
	want(t, j, "service", "", "warn", "nothing renews")
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("doctor made a store: %v", err)
	}
}

func TestDoctor_CAA(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	h.mustRun("issue", "-d", "doc-caa-no.example", "-d", "doc-caa-yes.example", "-d", "doc-caa-none.example",
		"--http-addr", h.httpAddr(), "--agree-tos")
	records(t, h, "doc-caa-no.example", func() { h.srv.SetCAA("doc-caa-no.example", "issue", "other-ca.example") })
	records(t, h, "doc-caa-yes.example", func() { h.srv.SetCAA("doc-caa-yes.example", "issue", acmetest.CAAIdentity) })

	code, j, out := h.doctor(doctorRun{})
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	want(t, j, "caa", "doc-caa-no.example", "fail", `0 issue "other-ca.example"`, "do not allow this CA",
		`add 0 issue "`+acmetest.CAAIdentity+`"`)
	want(t, j, "caa", "doc-caa-yes.example", "ok", "allow "+acmetest.CAAIdentity)
	for _, c := range j.Checks {
		if c.Check == "caa" && c.Subject == "doc-caa-none.example" {
			t.Fatalf("a name without CAA records got a line: %+v", c)
		}
	}
}
