package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/cli"
)

func TestBinary_Version(t *testing.T) {
	code, out, errs := runBinary(t, "version")
	if code != 0 {
		t.Fatalf("version: exit %d\n%s\n%s", code, out, errs)
	}
	lines := strings.Split(out, "\n")
	if len(lines) < 4 || !strings.HasPrefix(lines[0], "certctl ") {
		t.Fatalf("version: want certctl, go, lego lines first:\n%s", out)
	}
	if f := strings.Fields(lines[1]); len(f) != 3 || f[0] != "go" || f[1] != runtime.Version() {
		t.Errorf("version: go line %q, want go %s", lines[1], runtime.Version())
	}
	if f := strings.Fields(lines[2]); len(f) != 2 || f[0] != "lego" || f[1] != "v4.35.2" {
		t.Errorf("version: lego line %q, want lego v4.35.2", lines[2])
	}
	if !strings.Contains(out, "go.etcd.io/bbolt ") || !strings.Contains(out, "github.com/spf13/cobra ") {
		t.Errorf("version: want the direct modules listed:\n%s", out)
	}

	code, out, errs = runBinary(t, "version", "-o", "json")
	if code != 0 {
		t.Fatalf("version -o json: exit %d\n%s\n%s", code, out, errs)
	}
	var v cli.VersionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, out)
	}
	if v.Lego != "v4.35.2" || v.Go != runtime.Version() || v.Version == "" || len(v.Modules) < 5 {
		t.Errorf("version -o json: %+v", v)
	}
	// --version says the same version, with the same fallbacks.
	code, out, errs = runBinary(t, "--version")
	if code != 0 || strings.TrimSpace(out) != "certctl version "+v.Version {
		t.Errorf("--version: exit %d, %q (want %q)\n%s", code, out, "certctl version "+v.Version, errs)
	}
}

// runBinary runs the built certctl with args alone and returns its exit
// code, stdout and stderr.
func runBinary(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	case err != nil:
		t.Fatalf("running certctl: %v", err)
	}
	return 0, out.String(), errb.String()
}
