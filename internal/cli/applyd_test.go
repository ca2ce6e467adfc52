package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/acmetest"
)

// replaceFile writes s to path the way editors and configuration managers
// do: a new file renamed over the old one.
func replaceFile(t *testing.T, path, s string) {
	t.Helper()
	tmp := path + ".tmp"
	writeFile(t, tmp, s)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestDaemon_ConfigReconcilesOnStartFileChangeAndSIGHUP(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	dir := t.TempDir()
	exp := filepath.Join(dir, "export")
	file := filepath.Join(dir, "certs.yaml")
	writeFile(t, file, h.applyFile(exp, "ec256", "one=one.example"))
	d := h.startDaemon(t, "--config", file, "--agree-tos", "--metrics-addr", "", "--schedule", "@every 1h")
	d.waitLog(t, `reason=start created=1 updated=0 reordered=0 kept=0 failed=0`, 30*time.Second)
	h.verifyExport(filepath.Join(exp, "one"), "one.example")

	// An edit of the file is applied without a signal.
	replaceFile(t, file, h.applyFile(exp, "ec256", "one=one.example", "two=two.example"))
	d.waitLog(t, `reason="file changed" created=1 updated=0 reordered=0 kept=1 failed=0`, 30*time.Second)
	h.verifyExport(filepath.Join(exp, "two"), "two.example")

	// A bad edit is reported and changes nothing.
	replaceFile(t, file, "certificates:\n  - domains: [three.example]\n    key-type: ec1\n")
	d.waitLog(t, `certs.yaml:3: certificates[0].key-type: bad key type`, 30*time.Second)
	d.waitLog(t, `config invalid; nothing applied`, 30*time.Second)

	// SIGHUP reconciles the store with the file even if the file did not
	// change: a certificate removed by hand comes back.
	replaceFile(t, file, h.applyFile(exp, "ec256", "one=one.example", "two=two.example"))
	d.waitLog(t, `reason="file changed" created=0 updated=0 reordered=0 kept=2 failed=0`, 30*time.Second)
	h.mustRun("remove", "two", "--keep-files")
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitLog(t, `reason=SIGHUP created=1 updated=0 reordered=0 kept=1 failed=0`, 30*time.Second)
	d.stop(t)
	l := h.list()
	if len(l) != 2 || l["one"].Serial == "" || l["two"].Serial == "" { // and no three.example from the bad file
		t.Fatalf("store after the daemon: %v", l)
	}
}

func TestDaemon_ConfigBadFileFailsAtStart(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	file := filepath.Join(t.TempDir(), "certs.yaml")
	writeFile(t, file, "certificates:\n  - domains: [a.example]\n    colour: blue\n")
	code, out, errs := h.run("daemon", "--config", file, "--metrics-addr", "")
	if code != 2 || out != "" || !strings.Contains(errs, "certs.yaml:3: certificates[0].colour: unknown key") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
}
