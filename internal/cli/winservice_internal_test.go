package cli

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestParseInstallArgs(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		want    installArgs
		wantErr bool
	}{
		{"nothing", nil, installArgs{}, false},
		{"daemon flags directly", []string{"--schedule", "@every 1h", "--store", `C:\s.db`},
			installArgs{daemon: []string{"--schedule", "@every 1h", "--store", `C:\s.db`}}, false},
		{"after --", []string{"--log-file", `C:\l.log`, "--", "--workers", "2"},
			installArgs{logFile: `C:\l.log`, daemon: []string{"--workers", "2"}}, false},
		{"log-file= form", []string{"--log-file=d.log", "--workers=2"},
			installArgs{logFile: "d.log", daemon: []string{"--workers=2"}}, false},
		{"--log-file after -- is the daemon's", []string{"--", "--log-file", "x"},
			installArgs{daemon: []string{"--log-file", "x"}}, false},
		{"-h after -- is the daemon's", []string{"--", "-h"}, installArgs{daemon: []string{"-h"}}, false},
		{"help", []string{"--schedule", "@daily", "--help"}, installArgs{daemon: []string{"--schedule", "@daily"}, help: true}, false},
		{"log-file without a path", []string{"--log-file"}, installArgs{}, true},
		{"log-file empty", []string{"--log-file="}, installArgs{}, true},
	}
	for _, tc := range cases {
		got, err := parseInstallArgs(tc.args)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err = %v, want error %v", tc.name, err, tc.wantErr)
			continue
		}
		if err != nil {
			if ExitCode(err) != ExitUsage {
				t.Errorf("%s: exit code %d, want %d", tc.name, ExitCode(err), ExitUsage)
			}
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: parseInstallArgs = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestCheckDaemonArgs(t *testing.T) {
	good := [][]string{
		nil,
		{"--schedule", "@every 1h", "--workers", "8", "--http-addr", ":80"},
		{"--store", `C:\ProgramData\certctl\certctl.db`, "--log-level", "info", "--log-format", "json"},
		{"--config", "certs.yaml", "--agree-tos", "--deploy-hook", `powershell -File 'C:\deploy.ps1'`, "--metrics-addr", ""},
	}
	for _, args := range good {
		if err := checkDaemonArgs(args); err != nil {
			t.Errorf("checkDaemonArgs(%q) = %v, want nil", args, err)
		}
	}
	bad := []struct {
		args []string
		want string
	}{
		{[]string{"--no-such-flag"}, "unknown flag"},
		{[]string{"--workers"}, "needs an argument"},
		{[]string{"extra"}, "unknown command"},
		{[]string{"--schedule", "every now and then"}, "--schedule"},
		{[]string{"--workers", "0"}, "--workers 0"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--lock-timeout", "1ms"}, "--lock-timeout"},
		{[]string{"--max-orders-per-second", "-1"}, "--max-orders-per-second"},
		{[]string{"--deploy-hook", "sh -c 'echo $CERTCTL_NO_SUCH_VAR'"}, "--deploy-hook"},
		{[]string{"--help"}, "--help"},
	}
	for _, tc := range bad {
		err := checkDaemonArgs(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("checkDaemonArgs(%q) = %v, want an error containing %q", tc.args, err, tc.want)
			continue
		}
		if ExitCode(err) != ExitUsage {
			t.Errorf("checkDaemonArgs(%q): exit code %d, want %d", tc.args, ExitCode(err), ExitUsage)
		}
	}
}

// The command line recorded in the service is parsed back by `service run`
// into the same directory, log file and daemon flags, which the daemon
// accepts.
func TestServiceArgs_ParsedBackByServiceRun(t *testing.T) {
	daemon := []string{"--schedule", "@every 1h", "--deploy-hook", `powershell -File "C:\My Scripts\bind.ps1"`, "--log-level=info"}
	for _, logFile := range []string{"", `C:\Program Files\certctl\daemon.log`} {
		argv := serviceArgs(`C:\Users\admin\certs`, logFile, daemon)
		if argv[0] != "service" || argv[1] != "run" {
			t.Fatalf("argv %q does not start with service run", argv)
		}
		root := NewRootCmd(&Deps{})
		run, rest, err := root.Find(argv)
		if err != nil || run.Name() != "run" {
			t.Fatalf("Find(%q) = %v, %v", argv, run, err)
		}
		if err := run.ParseFlags(rest); err != nil {
			t.Fatal(err)
		}
		wd, _ := run.Flags().GetString("workdir")
		lf, _ := run.Flags().GetString("log-file")
		if wd != `C:\Users\admin\certs` || lf != logFile {
			t.Errorf("run flags: workdir %q, log-file %q; want %q, %q", wd, lf, `C:\Users\admin\certs`, logFile)
		}
		// cobra passes run's positional arguments, here those after "--".
		if got := run.Flags().Args(); !reflect.DeepEqual(got, daemon) {
			t.Errorf("daemon args %q, want %q", got, daemon)
		}
		if err := checkDaemonArgs(run.Flags().Args()); err != nil {
			t.Errorf("daemon rejects the recorded flags: %v", err)
		}
		// And the Windows command line splits back into the same argv.
		exe := `C:\Program Files\certctl\certctl.exe`
		line := windowsCommandLine(append([]string{exe}, argv...))
		if got := splitWindowsCommandLine(line); !reflect.DeepEqual(got, append([]string{exe}, argv...)) {
			t.Errorf("command line %s splits into %q", line, got)
		}
	}
}

func TestWindowsQuote(t *testing.T) {
	exact := map[string]string{
		`plain`:               `plain`,
		`C:\dir\file.db`:      `C:\dir\file.db`,
		``:                    `""`,
		`a b`:                 `"a b"`,
		`C:\Program Files\x\`: `"C:\Program Files\x\\"`,
		`say "hi"`:            `"say \"hi\""`,
		`a\"b`:                `"a\\\"b"`,
	}
	for in, want := range exact {
		if got := windowsQuote(in); got != want {
			t.Errorf("windowsQuote(%q) = %s, want %s", in, got, want)
		}
	}
	args := []string{"", " ", `\`, `\\`, `"`, `\"`, `a\\b c`, `"quoted"`, "tab\there", `ends with \`, `x\\\"y z`, `@every 1h`, `*`, `%PATH%`}
	line := windowsCommandLine(append([]string{"prog"}, args...))
	if got := splitWindowsCommandLine(line); !reflect.DeepEqual(got[1:], args) {
		t.Errorf("command line %s\nsplits into %q\nwant        %q", line, got[1:], args)
	}
}

// splitWindowsCommandLine splits a command line as the Microsoft C runtime
// does for arguments after the program name (backslashes are literal except
// before a double quote: 2n of them and a quote give n and toggle quoting,
// 2n+1 give n and a literal quote; "" inside quotes gives a quote). It is
// written from the documented rules, independently of windowsQuote. The
// program name here never has quotes inside.
func splitWindowsCommandLine(s string) []string {
	var args []string
	var cur strings.Builder
	inArg, quoted := false, false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			n := 0
			for i < len(s) && s[i] == '\\' {
				n++
				i++
			}
			if i < len(s) && s[i] == '"' {
				cur.WriteString(strings.Repeat(`\`, n/2))
				if n%2 == 1 {
					cur.WriteByte('"')
					i++
				}
			} else {
				cur.WriteString(strings.Repeat(`\`, n))
			}
			inArg = true
			continue
		case c == '"':
			if quoted && i+1 < len(s) && s[i+1] == '"' {
				cur.WriteByte('"')
				i += 2
				continue
			}
			quoted = !quoted
			inArg = true
		case (c == ' ' || c == '\t') && !quoted:
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(c)
			inArg = true
		}
		i++
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args
}

// The event log level of each line the daemon writes, from real slog
// handlers in both formats.
func TestLineLevel(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
			var buf bytes.Buffer
			var h slog.Handler = slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
			if format == "json" {
				h = slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
			}
			slog.New(h).Log(context.Background(), level, "renewal", "name", "level=ERROR inside a value", "n", 1)
			// A value holding "level=ERROR" does not promote the line;
			// the event log has no debug level.
			want := max(level, slog.LevelInfo)
			if got := lineLevel(buf.Bytes()); got != want {
				t.Errorf("%s %v: lineLevel(%s) = %v, want %v", format, level, buf.Bytes(), got, want)
			}
		}
	}
	if got := lineLevel([]byte("certctl: store C:\\x.db: busy\n")); got != slog.LevelError {
		t.Errorf("certctl's error line: %v, want ERROR", got)
	}
	if got := lineLevel([]byte("plain progress line\n")); got != slog.LevelInfo {
		t.Errorf("plain line: %v, want INFO", got)
	}
}

func TestEnvNotes(t *testing.T) {
	if n := envNotes([]string{"PATH=/bin", "HOME=/root"}); n != nil {
		t.Errorf("envNotes without CERTCTL_ = %q", n)
	}
	n := envNotes([]string{"PATH=/bin", "CERTCTL_STORE=C:\\s.db", "CERTCTL_EMAIL=a@example.com"})
	if len(n) != 1 || !strings.Contains(n[0], "CERTCTL_EMAIL, CERTCTL_STORE") {
		t.Errorf("envNotes = %q", n)
	}
}

// Outside Windows every service command refuses with one line and exit
// code 2, before looking at its arguments.
func TestCLI_Service_WindowsOnly(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the service commands work on Windows")
	}
	for _, args := range [][]string{
		{"service"},
		{"service", "install", "--", "--schedule", "@every 1h"},
		{"service", "install", "--no-such-flag"},
		{"service", "uninstall"},
		{"service", "start"},
		{"service", "stop"},
		{"service", "run", "--", "--workers", "2"},
	} {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), &Deps{Stdout: &stdout, Stderr: &stderr}, args)
		want := "certctl: service: Windows only; on Linux use the systemd unit in examples/systemd\n"
		if code != ExitUsage || stderr.String() != want || stdout.Len() != 0 {
			t.Errorf("certctl %s: exit %d, stdout %q, stderr %q; want exit %d and %q",
				strings.Join(args, " "), code, stdout.String(), stderr.String(), ExitUsage, want)
		}
	}
}

// lineWaiter is an io.Writer that records lines and lets a test wait for
// one containing a string.
type lineWaiter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{} // closed and replaced at each write
}

func newLineWaiter() *lineWaiter { return &lineWaiter{wrote: make(chan struct{})} }

func (w *lineWaiter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	close(w.wrote)
	w.wrote = make(chan struct{})
	return len(p), nil
}

// wait returns once a line containing s was written, or fails t when
// done is closed first.
func (w *lineWaiter) wait(t *testing.T, s string, done <-chan struct{}) {
	t.Helper()
	for {
		w.mu.Lock()
		has, ch := strings.Contains(w.buf.String(), s), w.wrote
		w.mu.Unlock()
		if has {
			return
		}
		select {
		case <-ch:
		case <-done:
			t.Fatalf("ended before logging %q:\n%s", s, w.String())
		}
	}
}

func (w *lineWaiter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// What the service does with the daemon: run it with the recorded flags,
// logging to the service's writer, and stop it cleanly (exit code 0, store
// intact) when the service manager's stop cancels its context.
func TestServiceDaemon_StopCancelsContext(t *testing.T) {
	storePath := filepath.Join(t.TempDir(), "certctl.db")
	w := newLineWaiter()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	var code int
	go func() {
		defer close(done)
		code = serviceDaemon(ctx, &Deps{Getenv: func(string) string { return "" }}, w,
			[]string{"--store", storePath, "--metrics-addr", "", "--schedule", "@every 1h", "--log-level", "info"})
	}()
	w.wait(t, "daemon started", done)
	cancel()
	<-done
	if code != ExitOK {
		t.Fatalf("exit code %d after stop, want 0; log:\n%s", code, w)
	}
	if !strings.Contains(w.String(), "daemon stopped") {
		t.Errorf("no \"daemon stopped\" in the log:\n%s", w)
	}
	// The store it made reopens and lists (nothing).
	var out, errb bytes.Buffer
	if c := Run(context.Background(), &Deps{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }},
		[]string{"--store", storePath, "list", "-o", "json"}); c != ExitOK {
		t.Fatalf("list after the service stopped: exit %d: %s", c, errb.String())
	}

	// A daemon that cannot run ends with a non-zero code (the service
	// manager then restarts the service) and says why on the writer.
	w2 := newLineWaiter()
	bad := serviceDaemon(context.Background(), &Deps{Getenv: func(string) string { return "" }}, w2,
		[]string{"--store", filepath.Join(t.TempDir(), "missing-dir", "x.db"), "--metrics-addr", ""})
	if bad == ExitOK || !strings.HasPrefix(w2.String(), "certctl: ") {
		t.Errorf("daemon on a missing directory: exit %d, log %q; want non-zero and a certctl: line", bad, w2)
	}
	if lineLevel([]byte(w2.String())) != slog.LevelError {
		t.Errorf("its error line would not be an event log error: %q", w2)
	}
}
