package command

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/proctest"
)

func TestTailBuffer_KeepsTheLastBytes(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		writes []string
		want   string
	}{
		{"nothing", 4, nil, ""},
		{"fits", 4, []string{"ab", "cd"}, "abcd"},
		{"drops the oldest", 4, []string{"abc", "def"}, "[output truncated]\ncdef"},
		{"one large write", 4, []string{"abcdefgh"}, "[output truncated]\nefgh"},
		{"exactly max at once", 4, []string{"abcd"}, "abcd"},
		{"large after small", 4, []string{"x", "abcdef"}, "[output truncated]\ncdef"},
	}
	for _, tt := range tests {
		b := &tailBuffer{max: tt.max}
		for _, w := range tt.writes {
			if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
				t.Fatalf("%s: Write(%q) = %d, %v", tt.name, w, n, err)
			}
		}
		if got := string(b.bytes()); got != tt.want {
			t.Errorf("%s: bytes() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRun_ArgvAndEnvWithoutShell(t *testing.T) {
	proctest.RequireShell(t)
	out, err := Run(t.Context(), []string{"sh", "-c", `printf '%s|%s' "$1" "$CERTCTL_TEST_X"`, "sh", "$(id)"},
		[]string{"CERTCTL_TEST_X=from env"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); got != "$(id)|from env" {
		t.Errorf("output %q, want the argument unexpanded and the variable set", got)
	}
}

func TestRun_FailuresAndLongOutput(t *testing.T) {
	proctest.RequireShell(t)
	if _, err := Run(t.Context(), nil, nil, time.Minute); err == nil {
		t.Error("empty argv: no error")
	}
	if _, err := Run(t.Context(), []string{"certctl-no-such-command-xyz"}, nil, time.Minute); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("missing command: err = %v, want exec.ErrNotFound", err)
	}
	out, err := Run(t.Context(), []string{"sh", "-c", "head -c 70000 /dev/zero | tr '\\0' a; echo END >&2; exit 4"}, nil, time.Minute)
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 4 {
		t.Errorf("err = %v, want exit status 4", err)
	}
	if !bytes.HasPrefix(out, []byte("[output truncated]\n")) || !strings.HasSuffix(string(out), "aEND\n") ||
		len(out) != len("[output truncated]\n")+outputMax {
		t.Errorf("output of %d bytes, want the marked last 64 KiB", len(out))
	}
}

func TestTail_TrimsAndCuts(t *testing.T) {
	if got := Tail([]byte("  out\n")); got != "out" {
		t.Errorf("short output: %q", got)
	}
	long := strings.Repeat("a", TailMax) + "END"
	got := Tail([]byte(long))
	if !strings.HasPrefix(got, "...") || !strings.HasSuffix(got, "END") || len(got) != TailMax+3 {
		t.Errorf("long output: %d bytes, starts %q", len(got), got[:10])
	}
}

func TestEnviron_MinimalPlusOptInAndExtra(t *testing.T) {
	t.Setenv("PATH", "/usr/bin:/bin")
	t.Setenv("LC_ALL", "C")
	t.Setenv("CLOUDFLARE_DNS_API_TOKEN", "secret")
	t.Setenv("NOTIFY_SOCKET", "/run/systemd/notify")
	t.Setenv("MY_SETTING", "1")
	t.Setenv("AWS_REGION", "eu")
	t.Setenv("AWS_PROFILE", "x")
	t.Setenv("TZ", "UTC")
	t.Setenv(HookEnvVar, " MY_SETTING , AWS_* ,*,")
	env := Environ([]string{"CERTCTL_NAME=a", "TZ=Europe/Paris"})
	has := func(kv string) bool {
		for _, e := range env {
			if e == kv {
				return true
			}
		}
		return false
	}
	for _, want := range []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "MY_SETTING=1", "AWS_REGION=eu", "AWS_PROFILE=x",
		"CERTCTL_NAME=a", "TZ=Europe/Paris"} {
		if !has(want) {
			t.Errorf("%q missing from %q", want, env)
		}
	}
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		switch k {
		case "CLOUDFLARE_DNS_API_TOKEN", "NOTIFY_SOCKET", HookEnvVar:
			t.Errorf("%s inherited", k)
		}
		if e == "TZ=UTC" {
			t.Error("TZ given twice: the inherited value was not dropped")
		}
	}
}
