package export_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certctl/certctl/export"
	"github.com/certctl/certctl/internal/proctest"
)

func TestReadPassword_FileEnvAndErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("pa ss\r\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if pw, err := export.ReadPassword(file, "IGNORED"); err != nil || pw != "pa ss" {
		t.Errorf("from file: %q, %v", pw, err)
	}
	t.Setenv("CERTCTL_TEST_PFX_PW", "from-env\n")
	if pw, err := export.ReadPassword("", "CERTCTL_TEST_PFX_PW"); err != nil || pw != "from-env\n" {
		t.Errorf("from env: %q, %v", pw, err)
	}
	if _, err := export.ReadPassword("", "CERTCTL_TEST_PFX_PW_UNSET"); !errors.Is(err, export.ErrNoPassword) {
		t.Errorf("unset env: err = %v, want ErrNoPassword", err)
	}
	if _, err := export.ReadPassword(filepath.Join(dir, "missing"), ""); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
	if pw, err := export.ReadPassword("", ""); err != nil || pw != "" {
		t.Errorf("none: %q, %v", pw, err)
	}
}

func TestReload_Success_RunsArgvWithoutShell(t *testing.T) {
	out := filepath.Join(t.TempDir(), "args")
	script := proctest.Script(t, "reload.sh", `printf '%s\n' "$@" > "$1"`+"\n")
	arg := "$(touch " + out + ".pwned)"
	if err := export.Reload(t.Context(), export.FileTarget{ReloadCmd: []string{script, out, arg}}, nil); err != nil {
		t.Fatal(err)
	}
	if b := readFile(t, out); string(b) != out+"\n"+arg+"\n" {
		t.Errorf("command saw %q", b)
	}
	if _, err := os.Stat(out + ".pwned"); err == nil {
		t.Error("argument was run by a shell")
	}
	if err := export.Reload(t.Context(), export.FileTarget{}, nil); err != nil {
		t.Errorf("no command: %v", err)
	}
}

func TestReload_Failing_ErrorWithOutput(t *testing.T) {
	script := proctest.Script(t, "reload.sh", "echo 'nginx: [emerg] bad config' >&2\nexit 1\n")
	err := export.Reload(t.Context(), export.FileTarget{ReloadCmd: []string{script}}, nil)
	if err == nil || !strings.Contains(err.Error(), "bad config") || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("err = %v, want the exit status and output", err)
	}
	if err := export.Reload(t.Context(), export.FileTarget{ReloadCmd: []string{"certctl-no-such-reload-xyz"}}, nil); err == nil {
		t.Error("missing command: no error")
	}
}

func TestReload_Hanging_KilledAtTimeout(t *testing.T) {
	// The child in the command's process group is killed too.
	proctest.CheckTimeoutKillsChild(t, export.ErrCommandTimeout, func(argv []string, timeout time.Duration) error {
		return export.Reload(t.Context(), export.FileTarget{ReloadCmd: argv, ReloadTimeout: timeout}, nil)
	})
}
