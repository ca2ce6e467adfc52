package renew_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/proctest"
	"github.com/certctl/certctl/renew"
)

func TestHookEnv_Environ_AllVariablesAlwaysSet(t *testing.T) {
	env := renew.HookEnv{Event: renew.HookPre, Name: "www"}.Environ()
	want := []string{
		"CERTCTL_EVENT=pre", "CERTCTL_NAME=www", "CERTCTL_DOMAINS=", "CERTCTL_SERIAL=",
		"CERTCTL_NOT_AFTER=", "CERTCTL_CERT_FILE=", "CERTCTL_KEY_FILE=", "CERTCTL_CHAIN_FILE=",
		"CERTCTL_FULLCHAIN_FILE=", "CERTCTL_PFX_FILE=", "CERTCTL_PFX_PASSWORD_FILE=", "CERTCTL_PFX_PASSWORD_ENV=",
		"CERTCTL_ERROR=",
	}
	if !slices.Equal(env, want) {
		t.Errorf("Environ() = %q, want %q", env, want)
	}
}

func TestHookEnv_Environ_NotAfterUTCAndNULRemoved(t *testing.T) {
	loc := time.FixedZone("x", 5*3600)
	env := renew.HookEnv{
		NotAfter: time.Date(2030, 1, 2, 8, 4, 5, 0, loc),
		Err:      "bad\x00thing",
	}.Environ()
	if !slices.Contains(env, "CERTCTL_NOT_AFTER=2030-01-02T03:04:05Z") {
		t.Errorf("NOT_AFTER not in UTC RFC 3339: %q", env)
	}
	if !slices.Contains(env, "CERTCTL_ERROR=badthing") {
		t.Errorf("NUL not removed: %q", env)
	}
}

func TestRunHook_Environment_EveryVariable(t *testing.T) {
	out := filepath.Join(t.TempDir(), "env.txt")
	script := proctest.Script(t, "hook.sh", `env | grep '^CERTCTL_' | sort > "$1"`+"\n")
	e := renew.HookEnv{
		Event:           renew.HookDeploy,
		Name:            "shop",
		Domains:         []string{"shop.example", "www.shop.example"},
		Serial:          "0a1b2c",
		NotAfter:        time.Date(2031, 6, 7, 8, 9, 10, 0, time.UTC),
		CertFile:        "/etc/certctl/shop/cert.pem",
		KeyFile:         "/etc/certctl/shop/privkey.pem",
		ChainFile:       "/etc/certctl/shop/chain.pem",
		FullchainFile:   "/etc/certctl/shop/fullchain.pem",
		PFXFile:         "/srv/iis/shop.pfx",
		PFXPasswordFile: "/etc/certctl/shop.pass",
		PFXPasswordEnv:  "SHOP_PFX_PASSWORD",
	}
	t.Setenv("CERTCTL_SERIAL", "inherited-value-must-be-overridden")
	if err := renew.RunHook(t.Context(), []string{script, out}, e, 0, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSpace(string(b)), "\n")
	want := []string{
		"CERTCTL_CERT_FILE=/etc/certctl/shop/cert.pem",
		"CERTCTL_CHAIN_FILE=/etc/certctl/shop/chain.pem",
		"CERTCTL_DOMAINS=shop.example,www.shop.example",
		"CERTCTL_ERROR=",
		"CERTCTL_EVENT=deploy",
		"CERTCTL_FULLCHAIN_FILE=/etc/certctl/shop/fullchain.pem",
		"CERTCTL_KEY_FILE=/etc/certctl/shop/privkey.pem",
		"CERTCTL_NAME=shop",
		"CERTCTL_NOT_AFTER=2031-06-07T08:09:10Z",
		"CERTCTL_PFX_FILE=/srv/iis/shop.pfx",
		"CERTCTL_PFX_PASSWORD_ENV=SHOP_PFX_PASSWORD",
		"CERTCTL_PFX_PASSWORD_FILE=/etc/certctl/shop.pass",
		"CERTCTL_SERIAL=0a1b2c",
	}
	if !slices.Equal(got, want) {
		t.Errorf("hook saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRunHook_Injection_NeverExecuted(t *testing.T) {
	dir := t.TempDir()
	pwned := func(n int) string { return filepath.Join(dir, fmt.Sprintf("pwned%d", n)) }
	out := filepath.Join(dir, "seen.txt")
	// The hook uses the values the way a careless script might, unquoted,
	// but a shell expands variables only once: substitutions inside their
	// values are not run.
	script := proctest.Script(t, "hook.sh", `echo $CERTCTL_DOMAINS > "$1"; echo $CERTCTL_ERROR >> "$1"; printf '%s\n' "$2" >> "$1"`+"\n")
	e := renew.HookEnv{
		Event:   renew.HookFailure,
		Name:    "evil",
		Domains: []string{"$(touch " + pwned(1) + ")", "`touch " + pwned(2) + "`", "a;touch " + pwned(3)},
		Err:     "$(touch " + pwned(4) + ")",
	}
	arg := "$(touch " + pwned(5) + ")"
	if err := renew.RunHook(t.Context(), []string{script, out, arg}, e, 0, nil); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 5; n++ {
		if _, err := os.Stat(pwned(n)); err == nil {
			t.Errorf("injected command %d was executed", n)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join(e.Domains, ",") + "\n" + e.Err + "\n" + arg + "\n"
	if string(b) != want {
		t.Errorf("hook saw %q, want the values verbatim %q", b, want)
	}
}

func TestRunHook_Failure_ErrorHasOutputAndStatus(t *testing.T) {
	script := proctest.Script(t, "hook.sh", "echo to-stdout\necho to-stderr >&2\nexit 3\n")
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	err := renew.RunHook(t.Context(), []string{script}, renew.HookEnv{Event: renew.HookDeploy, Name: "api"}, 0, logger)
	if err == nil {
		t.Fatal("failing hook returned nil")
	}
	msg := err.Error()
	for _, s := range []string{"api: deploy hook ", "hook.sh", "exit status 3", "to-stdout", "to-stderr"} {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q lacks %q", msg, s)
		}
	}
	if !strings.HasPrefix(msg, "api: deploy hook ") {
		t.Errorf("error %q does not start with its subject", msg)
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 {
		t.Errorf("error %v does not carry exit status 3", err)
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Errorf("want one log record, got %d:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "to-stderr") || !strings.Contains(logs.String(), "level=INFO") {
		t.Errorf("log lacks the output at info: %s", logs.String())
	}
}

func TestRunHook_Success_OutputLogged(t *testing.T) {
	script := proctest.Script(t, "hook.sh", "echo reloaded \"$CERTCTL_NAME\"\n")
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	if err := renew.RunHook(t.Context(), []string{script}, renew.HookEnv{Event: renew.HookPost, Name: "db"}, 0, logger); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"output":"reloaded db\n"`) {
		t.Errorf("log lacks the hook's output: %s", logs.String())
	}
}

func TestRunHook_Hanging_KilledAtTimeout(t *testing.T) {
	script := proctest.Script(t, "hook.sh", "exec sleep 60\n")
	err := renew.RunHook(t.Context(), []string{script}, renew.HookEnv{Event: renew.HookPre, Name: "slow"}, 200*time.Millisecond, nil)
	if !errors.Is(err, renew.ErrHookTimeout) {
		t.Fatalf("err = %v, want ErrHookTimeout", err)
	}
	if !strings.HasPrefix(err.Error(), "slow: pre hook ") {
		t.Errorf("error %q does not start with its subject", err)
	}
}

func TestRunHook_HangingWithChild_WholeGroupKilled(t *testing.T) {
	proctest.CheckTimeoutKillsChild(t, renew.ErrHookTimeout, func(argv []string, timeout time.Duration) error {
		return renew.RunHook(t.Context(), argv, renew.HookEnv{Event: renew.HookPre, Name: "slow"}, timeout, nil)
	})
}

func TestRunHook_ContextCanceled_KilledWithCause(t *testing.T) {
	script := proctest.Script(t, "hook.sh", "sleep 60 &\necho $! > \"$1\"\nwait\n")
	ctx, cancel := context.WithCancel(t.Context())
	hook := proctest.Start(t, func(pidPipe string) error {
		return renew.RunHook(ctx, []string{script, pidPipe}, renew.HookEnv{Event: renew.HookPre, Name: "c"}, time.Hour, nil)
	})
	// Cancel once the hook has started its child.
	child := hook.Child(t)
	if child == nil {
		t.Fatalf("the hook did not report its child; RunHook: %v", hook.Wait())
	}
	cancel()
	if err := hook.Wait(); !errors.Is(err, context.Canceled) || errors.Is(err, renew.ErrHookTimeout) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	child.WaitGone(t)
}

func TestRunHook_MissingExecutable_ClearError(t *testing.T) {
	err := renew.RunHook(t.Context(), []string{"certctl-no-such-hook-xyz"}, renew.HookEnv{Event: renew.HookDeploy, Name: "m"}, 0, nil)
	if !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("err = %v, want exec.ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), `m: deploy hook "certctl-no-such-hook-xyz"`) {
		t.Errorf("error %q does not name the certificate, event and command", err)
	}
	missing := filepath.Join(t.TempDir(), "absent")
	if err := renew.RunHook(t.Context(), []string{missing}, renew.HookEnv{Name: "m"}, 0, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absolute missing path: err = %v, want os.ErrNotExist", err)
	}
}

func TestRunHook_EmptyArgv_Noop(t *testing.T) {
	if err := renew.RunHook(t.Context(), nil, renew.HookEnv{}, 0, nil); err != nil {
		t.Errorf("empty argv: %v", err)
	}
}

func TestRunHook_LeftBackgroundChild_SucceedsAfterGrace(t *testing.T) {
	// A hook that starts a helper holding its stdout and exits 0 succeeds.
	script := proctest.Script(t, "hook.sh", "sleep 30 &\necho $! > \"$1\"\nexit 0\n")
	hook := proctest.Start(t, func(pidPipe string) error {
		return renew.RunHook(t.Context(), []string{script, pidPipe}, renew.HookEnv{Name: "bg"}, 0, nil)
	})
	child := hook.Child(t) // killed by proctest at the end of the test
	if err := hook.Wait(); err != nil {
		t.Fatalf("err = %v", err)
	}
	if child == nil {
		t.Fatal("hook did not report its child")
	}
}

func TestRunHook_LargeOutput_TailKeptAndBounded(t *testing.T) {
	script := proctest.Script(t, "hook.sh", "i=0\nwhile [ $i -lt 3000 ]; do echo \"line $i of noise noise noise noise\"; i=$((i+1)); done\necho LAST-LINE\nexit 1\n")
	var logs bytes.Buffer
	err := renew.RunHook(t.Context(), []string{script}, renew.HookEnv{Event: renew.HookPost, Name: "big"}, 0, slog.New(slog.NewTextHandler(&logs, nil)))
	if err == nil {
		t.Fatal("no error")
	}
	if !strings.Contains(err.Error(), "LAST-LINE") || strings.Contains(err.Error(), "line 0 of") {
		t.Errorf("error does not keep only the output's tail")
	}
	if len(err.Error()) > 6<<10 {
		t.Errorf("error is %d bytes long", len(err.Error()))
	}
	if !strings.Contains(logs.String(), "output truncated") || logs.Len() > 80<<10 {
		t.Errorf("log record (%d bytes) not bounded and marked truncated", logs.Len())
	}
}
