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
