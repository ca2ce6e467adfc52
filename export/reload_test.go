package export_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/certctl/certctl/export"
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

func reloadScript(t *testing.T, body string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("reload scripts need /bin/sh")
	}
	p := filepath.Join(t.TempDir(), "reload.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReload_Success_RunsArgvWithoutShell(t *testing.T) {
	out := filepath.Join(t.TempDir(), "args")
	script := reloadScript(t, `printf '%s\n' "$@" > "$1"`+"\n")
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
	script := reloadScript(t, "echo 'nginx: [emerg] bad config' >&2\nexit 1\n")
	err := export.Reload(t.Context(), export.FileTarget{ReloadCmd: []string{script}}, nil)
	if err == nil || !strings.Contains(err.Error(), "bad config") || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("err = %v, want the exit status and output", err)
	}
	if err := export.Reload(t.Context(), export.FileTarget{ReloadCmd: []string{"certctl-no-such-reload-xyz"}}, nil); err == nil {
		t.Error("missing command: no error")
	}
}

func TestReload_Hanging_KilledAtTimeout(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	script := reloadScript(t, "sleep 60 &\necho $! > \""+pidFile+"\"\nwait\n")
	// On a loaded machine the timeout may pass before the child started;
	// then try again with a longer one.
	for _, timeout := range []time.Duration{200 * time.Millisecond, 2 * time.Second, 10 * time.Second} {
		_ = os.Remove(pidFile)
		err := export.Reload(t.Context(), export.FileTarget{ReloadCmd: []string{script}, ReloadTimeout: timeout}, nil)
		if !errors.Is(err, export.ErrCommandTimeout) {
			t.Fatalf("err = %v, want ErrCommandTimeout", err)
		}
		if b, _ := os.ReadFile(pidFile); len(b) > 0 && b[len(b)-1] == '\n' {
			break
		}
	}
	// The child in the command's process group is gone too.
	pid := strings.TrimSpace(string(readFile(t, pidFile)))
	for i := 0; ; i++ {
		b, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			break // gone
		}
		s := string(b)
		if j := strings.LastIndexByte(s, ')'); j >= 0 && j+2 < len(s) && (s[j+2] == 'Z' || s[j+2] == 'X') {
			break // dead, not yet reaped
		}
		if i == 500 {
			t.Fatalf("child %s still runs", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
