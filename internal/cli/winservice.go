package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The Windows service: `certctl service install|uninstall|start|stop`, and
// the hidden `certctl service run` that the service manager starts. This
// file is the platform-neutral part: the commands, the service's command
// line (built from the user's daemon flags, which are checked by parsing
// them with the daemon's own flag set), Windows quoting and the level of a
// log line. winservice_windows.go talks to the service manager and the
// event log; winservice_other.go refuses.

const (
	serviceName        = "certctl"
	serviceDisplayName = "certctl ACME certificate renewal"
	serviceDescription = "Renews ACME certificates before they expire and runs their hooks (certctl daemon)."
	// serviceTimeout is how long start, stop and uninstall wait for the
	// service to reach the state asked for, unless --timeout says otherwise.
	serviceTimeout = 90 * time.Second
)

// errServiceWindowsOnly is what `certctl service` says outside Windows.
var errServiceWindowsOnly = refusef("service: Windows only; on Linux use the systemd unit in examples/systemd")

// NewCmdService returns `certctl service` and its subcommands.
func NewCmdService(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Run the daemon as a Windows service: install, uninstall, start, stop",
		Long: "Install certctl daemon as the Windows service \"" + serviceName + "\" (" + serviceDisplayName + "),\n" +
			"started automatically at boot and restarted if it fails, logging to the Windows event log\n" +
			"(source " + serviceName + ") or to a file. Windows only: on Linux use the systemd unit in examples/systemd.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !serviceSupported {
				return errServiceWindowsOnly
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(newCmdServiceInstall(g), newCmdServiceControl("uninstall", g), newCmdServiceControl("start", g),
		newCmdServiceControl("stop", g), newCmdServiceRun(g))
	return cmd
}

func newCmdServiceInstall(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "install [--log-file PATH] [--] [DAEMON FLAGS...]",
		Short: "Install the Windows service, running certctl daemon with the flags given",
		Long: "Install the Windows service \"" + serviceName + "\": it runs `certctl daemon` with the flags given here\n" +
			"(the daemon's own and the global ones such as --store), checked now as the daemon would check them.\n" +
			"It starts automatically at boot and is restarted when it fails. It logs to the Windows event log\n" +
			"(source " + serviceName + "), or with --log-file PATH appends to that file. Run from an Administrator prompt.\n\n" +
			"The service runs as LocalSystem, in the directory install was run from: relative paths in the\n" +
			"flags keep their meaning. It does not see this shell's environment: pass settings as flags\n" +
			"(--store, --email, ...) or set them machine-wide. Without --store it uses the default store,\n" +
			"%ProgramData%\\certctl\\certctl.db.",
		Example: "  certctl service install -- --config C:\\certctl\\certs.yaml --agree-tos --http-addr :80 --log-level info\n" +
			"  certctl service install --log-file C:\\certctl\\daemon.log -- --schedule \"@every 1h\"",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := parseInstallArgs(args)
			if in.help {
				return cmd.Help()
			}
			if !serviceSupported {
				return errServiceWindowsOnly
			}
			if err != nil {
				return err
			}
			if err := checkDaemonArgs(in.daemon); err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("service %s: finding this program: %w", serviceName, err)
			}
			wd, err := os.Getwd()
			if err != nil {
				return fmt.Errorf("service %s: %w", serviceName, err)
			}
			if in.logFile != "" {
				if in.logFile, err = filepath.Abs(in.logFile); err != nil {
					return fmt.Errorf("service %s: --log-file: %w", serviceName, err)
				}
			}
			argv := serviceArgs(wd, in.logFile, in.daemon)
			if err := installService(exe, argv, cmd.ErrOrStderr()); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "installed service %s: %s\n", serviceName, windowsCommandLine(append([]string{exe}, argv...)))
			for _, n := range envNotes(os.Environ()) {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: %s\n", n)
			}
			fmt.Fprintln(out, "start it with: certctl service start")
			return nil
		},
	}
}

// newCmdServiceControl returns `certctl service uninstall|start|stop`.
func newCmdServiceControl(verb string, g *globals) *cobra.Command {
	short := map[string]string{
		"uninstall": "Stop and remove the Windows service (the store and certificates stay)",
		"start":     "Start the Windows service and wait until it runs",
		"stop":      "Stop the Windows service, letting in-flight renewals finish, and wait until it stopped",
	}[verb]
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   verb,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !serviceSupported {
				return errServiceWindowsOnly
			}
			if timeout <= 0 {
				return usagef("--timeout %s: want a positive duration", timeout)
			}
			if err := controlService(cmd.Context(), verb, timeout); err != nil {
				return err
			}
			past := map[string]string{"uninstall": "uninstalled", "start": "started", "stop": "stopped"}[verb]
			fmt.Fprintf(cmd.OutOrStdout(), "service %s %s\n", serviceName, past)
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", serviceTimeout, "how long to wait for the service to "+verb)
	return cmd
}

// serviceRunOptions are the flags of `certctl service run`.
type serviceRunOptions struct {
	workdir, logFile string
	daemon           []string
}

// newCmdServiceRun returns the hidden `certctl service run`, the command
// line the service manager starts.
func newCmdServiceRun(g *globals) *cobra.Command {
	o := &serviceRunOptions{}
	cmd := &cobra.Command{
		Use:    "run [--workdir DIR] [--log-file PATH] -- [DAEMON FLAGS...]",
		Short:  "Run as the Windows service (started by the service manager, not by hand)",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !serviceSupported {
				return errServiceWindowsOnly
			}
			o.daemon = args
			return runService(g, o)
		},
	}
	cmd.Flags().StringVar(&o.workdir, "workdir", "", "directory to run in")
	cmd.Flags().StringVar(&o.logFile, "log-file", "", "file to append logs to (default: the event log)")
	return cmd
}

// installArgs are the arguments of `certctl service install`.
type installArgs struct {
	logFile string
	daemon  []string // the daemon's flags, recorded in the service
	help    bool
}

// parseInstallArgs splits install's arguments into its own (--log-file,
// --help) and the daemon's: everything else, and everything after "--".
func parseInstallArgs(args []string) (installArgs, error) {
	var in installArgs
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			in.daemon = append(in.daemon, args[i+1:]...)
			return in, nil
		case a == "-h" || a == "--help":
			in.help = true
		case a == "--log-file":
			if i+1 == len(args) || args[i+1] == "" {
				return in, usagef("--log-file: needs a path")
			}
			i++
			in.logFile = args[i]
		case strings.HasPrefix(a, "--log-file="):
			if in.logFile = strings.TrimPrefix(a, "--log-file="); in.logFile == "" {
				return in, usagef("--log-file: needs a path")
			}
		default:
			in.daemon = append(in.daemon, a)
		}
	}
	return in, nil
}

// checkDaemonArgs checks args as `certctl daemon ARGS` would before doing
// anything: parsed by the daemon's own flag set (with the global flags), no
// positional arguments, and the checks that need no file or network. The
// environment is left out: the service does not see this one.
func checkDaemonArgs(args []string) error {
	deps := &Deps{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }, Now: time.Now}
	root, g := newRootCmd(deps)
	d, _, err := root.Find([]string{"daemon"})
	if err != nil {
		return err
	}
	if err := d.ParseFlags(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return usagef("daemon flags: --help is not a daemon flag to record; run certctl daemon --help")
		}
		return usagef("daemon flags: %v", err)
	}
	if err := d.ValidateArgs(d.Flags().Args()); err != nil {
		return usagef("daemon flags: %v", err)
	}
	if err := g.setup(); err != nil {
		return err
	}
	return d.PreRunE(d, d.Flags().Args())
}

// serviceArgs is the command line (after the program) that the service
// manager starts: `service run` in workdir, logging to logFile if set,
// running the daemon with daemonArgs.
func serviceArgs(workdir, logFile string, daemonArgs []string) []string {
	argv := []string{"service", "run", "--workdir", workdir}
	if logFile != "" {
		argv = append(argv, "--log-file", logFile)
	}
	argv = append(argv, "--")
	return append(argv, daemonArgs...)
}

// windowsCommandLine joins args into one Windows command line, quoting
// each so that the C runtime's rules (CommandLineToArgvW) split it back
// into args.
func windowsCommandLine(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = windowsQuote(a)
	}
	return strings.Join(q, " ")
}

// windowsQuote quotes one argument for a Windows command line: unchanged
// if it has no blank and no double quote; otherwise in double quotes, with
// each double quote and the backslashes that precede it (or the closing
// quote) escaped by backslashes.
func windowsQuote(a string) string {
	if a != "" && !strings.ContainsAny(a, " \t\n\v\"") {
		return a
	}
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for i := 0; i < len(a); i++ {
		switch c := a[i]; c {
		case '\\':
			slashes++
		case '"':
			b.WriteString(strings.Repeat(`\`, 2*slashes+1))
			b.WriteByte('"')
			slashes = 0
		default:
			b.WriteString(strings.Repeat(`\`, slashes))
			b.WriteByte(c)
			slashes = 0
		}
	}
	b.WriteString(strings.Repeat(`\`, 2*slashes))
	b.WriteByte('"')
	return b.String()
}

// envNotes warns about the CERTCTL_ variables set in environ (as
// os.Environ gives them): the service does not see them.
func envNotes(environ []string) []string {
	var names []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(strings.ToUpper(k), "CERTCTL_") {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	return []string{fmt.Sprintf("the service does not see this shell's %s; pass them as flags or set them machine-wide",
		strings.Join(names, ", "))}
}

// lineLevel is the level of one line the daemon writes: that of an slog
// record, text or JSON (the first level key: slog writes it before the
// message and attributes); a line of certctl's own ("certctl: ...", the
// error it exits with) is an error; anything else is information.
func lineLevel(line []byte) slog.Level {
	if bytes.HasPrefix(line, []byte("certctl: ")) {
		return slog.LevelError
	}
	var v []byte
	if i := bytes.Index(line, []byte(`"level":"`)); bytes.HasPrefix(line, []byte("{")) && i >= 0 {
		v = line[i+len(`"level":"`):]
	} else if i := bytes.Index(line, []byte("level=")); i >= 0 {
		v = line[i+len("level="):]
	}
	switch {
	case bytes.HasPrefix(v, []byte("ERROR")):
		return slog.LevelError
	case bytes.HasPrefix(v, []byte("WARN")):
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// serviceDaemon runs `certctl daemon ARGS` as the service does: its logs
// and the line of a final error go to w, and cancelling ctx stops it as a
// stop request from the service manager does (in-flight renewals finish,
// up to --shutdown-timeout). It returns the daemon's exit code.
func serviceDaemon(ctx context.Context, deps *Deps, w io.Writer, args []string) int {
	d := *deps
	d.Stdout, d.Stderr = w, w
	return Run(ctx, &d, append([]string{"daemon"}, args...))
}
