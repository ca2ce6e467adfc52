package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/internal/cli"
	"github.com/certctl/certctl/store"
)

// builtDirs are the temporary directories of built binaries, removed by
// TestMain.
var (
	builtMu   sync.Mutex
	builtDirs []string
)

// buildDir makes a temporary directory for a built binary.
func buildDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err == nil {
		builtMu.Lock()
		builtDirs = append(builtDirs, dir)
		builtMu.Unlock()
	}
	return dir, err
}

// buildBinary builds cmd/certctl once per test binary.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := buildDir("certctl-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "certctl")
	cmd := exec.Command("go", "build", "-o", bin, "../../cmd/certctl")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", errors.New("go build: " + err.Error() + ": " + string(out))
	}
	return bin, nil
})

func (h *harness) binary(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(h.globals(), args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = nil
	err = cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running certctl: %v", err)
	}
	return code, out.String(), errb.String()
}

func TestBinary_IssueListRenew(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	code, out, errs := h.binary(t, "issue", "-d", "bin.example", "-d", "www.bin.example", "--http-addr", h.httpAddr(), "--agree-tos")
	if code != 0 || !strings.Contains(out, "ISSUED") {
		t.Fatalf("issue: exit %d\n%s\n%s", code, out, errs)
	}
	before := h.list()["bin.example"].Serial
	code, out, errs = h.binary(t, "renew", "bin.example", "--force", "-o", "json")
	if code != 0 {
		t.Fatalf("renew: exit %d\n%s\n%s", code, out, errs)
	}
	var rs []struct{ Name, Action, Serial, PreviousSerial string }
	if err := json.Unmarshal([]byte(out), &rs); err != nil || len(rs) != 1 || rs[0].Action != "renewed" || rs[0].Serial == before {
		t.Fatalf("renew JSON %q: %v", out, err)
	}
	code, _, errs = h.binary(t, "issue")
	if code != cli.ExitUsage || strings.Count(strings.TrimSpace(errs), "\n") > 1 || !strings.HasPrefix(errs, "certctl: ") {
		t.Fatalf("bad input through the binary: exit %d, stderr %q", code, errs)
	}
	exp := filepath.Join(t.TempDir(), "exp")
	if code, _, errs := h.binary(t, "export", "bin.example", "--dir", exp); code != 0 {
		t.Fatalf("export: %s", errs)
	}
	h.verifyExport(exp, "bin.example", "www.bin.example")
}

// A second process reads the store (list) while this one keeps writing to
// it: the reader never hangs or sees a broken store, and the store reopens
// intact.
func TestBinary_ListWhileAnotherProcessWrites(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	for _, n := range []string{"c1.example", "c2.example", "c3.example"} {
		h.mustRun("issue", "-d", n, "--http-addr", h.httpAddr(), "--agree-tos")
	}
	if _, err := buildBinary(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan struct{})
	var writes int
	var werr error
	go func() {
		defer close(done)
		for i := 0; i < 12 && ctx.Err() == nil; i++ {
			if code, out, errs := h.run("renew", "--all", "--force"); code != 0 {
				werr = errors.New(out + errs)
				return
			}
			writes++
		}
	}()
	reads := 0
	for {
		select {
		case <-done:
		default:
			code, out, errs := h.binary(t, "list", "-o", "json")
			if code != 0 {
				t.Fatalf("list while writing: exit %d: %s", code, errs)
			}
			var entries []cli.ListEntry
			if err := json.Unmarshal([]byte(out), &entries); err != nil || len(entries) != 3 {
				t.Fatalf("list while writing: %d entries, %v\n%s", len(entries), err, out)
			}
			for _, e := range entries {
				if e.Serial == "" || e.Status != "valid" {
					t.Fatalf("inconsistent entry while writing: %+v", e)
				}
			}
			reads++
			continue
		}
		break
	}
	if werr != nil {
		t.Fatalf("writer failed: %v", werr)
	}
	if writes != 12 || reads == 0 {
		t.Fatalf("%d writes, %d reads", writes, reads)
	}
	db, err := store.Open(h.store, nil)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := db.List(context.Background())
	if err != nil || len(certs) != 3 {
		t.Fatalf("reopened store: %d certs, %v", len(certs), err)
	}
	for _, c := range certs {
		if len(c.Versions) != store.MaxVersions || c.ActiveVersion() == nil {
			t.Fatalf("%s: %d versions, active %d", c.Name, len(c.Versions), c.Active)
		}
	}
	t.Logf("%d writes with %d concurrent reads by another process", writes, reads)
}

// TestMain removes the binaries the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	builtMu.Lock()
	for _, dir := range builtDirs {
		_ = os.RemoveAll(dir)
	}
	builtMu.Unlock()
	os.Exit(code)
}
