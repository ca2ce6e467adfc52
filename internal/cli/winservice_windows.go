//go:build windows

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/certctl/certctl/internal/winacl"
)

// serviceSupported: this is Windows.
const serviceSupported = true

// Event ids of the event log entries, by level.
const (
	eventInfo    = 1
	eventWarning = 2
	eventError   = 3
)

// installService creates the service running exe with args: started
// automatically, restarted when it fails (also when it exits with an
// error rather than crashing), with an event log source of its name. A
// service manager that cannot set the restart (Wine's) gets a warning on
// warn, not a failure.
func installService(exe string, args []string, warn io.Writer) error {
	m, err := connectManager()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	if s, err := m.OpenService(serviceName); err == nil {
		s.Close()
		return refusef("service %s: already installed; run certctl service uninstall first", serviceName)
	}
	s, err := m.CreateService(serviceName, exe, mgr.Config{
		DisplayName:  serviceDisplayName,
		Description:  serviceDescription,
		StartType:    mgr.StartAutomatic,
		ErrorControl: mgr.ErrorNormal,
	}, args...)
	if err != nil {
		return fmt.Errorf("service %s: creating: %w", serviceName, err)
	}
	defer s.Close()
	undo := func(err error) error {
		_ = s.Delete()
		return fmt.Errorf("service %s: %w", serviceName, err)
	}
	restart := []mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 10 * time.Second},
		{Type: mgr.ServiceRestart, Delay: time.Minute},
		{Type: mgr.ServiceRestart, Delay: 5 * time.Minute},
	}
	err = s.SetRecoveryActions(restart, uint32((24 * time.Hour).Seconds()))
	if err == nil {
		err = s.SetRecoveryActionsOnNonCrashFailures(true)
	}
	if err != nil {
		fmt.Fprintf(warn, "warning: service %s: restart on failure not set: %v\n", serviceName, err)
	}
	// The service runs exe as SYSTEM: whoever may replace it may run code
	// as SYSTEM.
	for _, p := range []string{filepath.Dir(exe), exe} {
		if err := winacl.CheckPrivate(p); err != nil {
			fmt.Fprintf(warn, "warning: %s: %v: whoever can change it runs code as SYSTEM through the service; "+
				"put certctl.exe where only Administrators may change it (such as C:\\Program Files\\certctl) and install again\n", p, err)
			break
		}
	}
	err = eventlog.InstallAsEventCreate(serviceName, eventlog.Error|eventlog.Warning|eventlog.Info)
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		return undo(fmt.Errorf("adding the event log source: %w", err))
	}
	return nil
}

// controlService uninstalls, starts or stops the service and waits up to
// timeout for it to get there.
func controlService(ctx context.Context, verb string, timeout time.Duration) error {
	m, err := connectManager()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		return refusef("service %s: not installed (%v)", serviceName, err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch verb {
	case "start":
		if err := s.Start(); err != nil && !errors.Is(err, windows.ERROR_SERVICE_ALREADY_RUNNING) {
			return fmt.Errorf("service %s: starting: %w", serviceName, err)
		}
		return waitState(ctx, s, svc.Running)
	case "stop":
		return stopService(ctx, s)
	case "uninstall":
		if err := stopService(ctx, s); err != nil {
			return err
		}
		if err := s.Delete(); err != nil {
			return fmt.Errorf("service %s: removing: %w", serviceName, err)
		}
		_ = eventlog.Remove(serviceName) // its past entries stay readable
		return nil
	}
	return fmt.Errorf("service %s: unknown action %q", serviceName, verb)
}

// stopService asks s to stop, unless it is stopped, and waits until it is.
func stopService(ctx context.Context, s *mgr.Service) error {
	st, err := s.Query()
	if err != nil {
		return fmt.Errorf("service %s: %w", serviceName, err)
	}
	if st.State == svc.Stopped {
		return nil
	}
	if st.State != svc.StopPending {
		if _, err := s.Control(svc.Stop); err != nil {
			return fmt.Errorf("service %s: stopping: %w", serviceName, err)
		}
	}
	return waitState(ctx, s, svc.Stopped)
}

// waitState polls s until it is in state want or ctx is done. A service
// that stops while it should start has failed: its log says why.
func waitState(ctx context.Context, s *mgr.Service, want svc.State) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := s.Query()
		if err != nil {
			return fmt.Errorf("service %s: %w", serviceName, err)
		}
		if st.State == want {
			return nil
		}
		if want == svc.Running && st.State == svc.Stopped {
			return fmt.Errorf("service %s: stopped right after starting (exit code %d); see the event log (source %s) or its --log-file",
				serviceName, st.ServiceSpecificExitCode, serviceName)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("service %s: still not %s (state %d): %w", serviceName, stateName(want), st.State, ctx.Err())
		case <-tick.C:
		}
	}
}

func stateName(s svc.State) string {
	if s == svc.Running {
		return "running"
	}
	return "stopped"
}

// connectManager connects to the service manager, which needs an
// Administrator.
func connectManager() (*mgr.Mgr, error) {
	m, err := mgr.Connect()
	if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		return nil, refusef("service %s: the service manager refused access; run from an Administrator prompt", serviceName)
	}
	if err != nil {
		return nil, fmt.Errorf("service %s: connecting to the service manager: %w", serviceName, err)
	}
	return m, nil
}

// runService is `certctl service run`: the daemon under the service
// manager, logging to the event log or o.logFile. Whether the service
// manager started this process is the answer of svc.Run itself (it fails
// at once in a console) rather than svc.IsWindowsService, which guesses
// from the parent process's name and session, and guesses wrong under
// Wine.
func runService(g *globals, o *serviceRunOptions) error {
	var w io.Writer
	if o.logFile != "" {
		f, err := os.OpenFile(o.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("service %s: log file: %w", serviceName, err)
		}
		defer f.Close()
		w = f
	} else {
		el, err := eventlog.Open(serviceName)
		if err != nil {
			return fmt.Errorf("service %s: event log: %w", serviceName, err)
		}
		defer el.Close()
		w = &eventWriter{el}
	}
	if o.workdir != "" {
		if err := os.Chdir(o.workdir); err != nil {
			fmt.Fprintf(w, "certctl: service %s: %v\n", serviceName, err)
			return err
		}
	}
	h := &serviceHandler{run: func(ctx context.Context) int { return serviceDaemon(ctx, g.deps, w, o.daemon) }}
	err := svc.Run(serviceName, h)
	if errors.Is(err, windows.ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
		return refusef("service run: only the Windows service manager runs this; in a console run certctl daemon")
	}
	if err != nil {
		fmt.Fprintf(w, "certctl: service %s: %v\n", serviceName, err)
		return fmt.Errorf("service %s: %w", serviceName, err)
	}
	return nil
}

// serviceHandler runs the daemon for the service manager.
type serviceHandler struct {
	// run runs the daemon until ctx is done and returns its exit code.
	run func(ctx context.Context) int
}

// Execute runs the daemon, reporting its state. Stop and shutdown cancel
// its context; it then finishes in-flight renewals, reporting progress so
// that the manager waits. A daemon that exits on its own with an error
// ends the service with that code, and the manager restarts it.
func (h *serviceHandler) Execute(args []string, r <-chan svc.ChangeRequest, s chan<- svc.Status) (bool, uint32) {
	s <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- h.run(ctx) }()
	s <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case code := <-done:
			return code != 0, uint32(code)
		case c := <-r:
			switch c.Cmd {
			case svc.Interrogate:
				s <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				cancel()
				return h.stopping(s, done)
			}
		}
	}
}

// stopping reports a pending stop every few seconds until the daemon
// returns. A stop asked for is never a failure, whatever the daemon's
// exit code (its log says what went wrong): the manager must not restart
// the service.
func (h *serviceHandler) stopping(s chan<- svc.Status, done <-chan int) (bool, uint32) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for cp := uint32(1); ; cp++ {
		s <- svc.Status{State: svc.StopPending, CheckPoint: cp, WaitHint: 15000}
		select {
		case <-done:
			return false, 0
		case <-tick.C:
		}
	}
}

// eventWriter writes each line to the event log at its level
// ([lineLevel]).
type eventWriter struct{ log *eventlog.Log }

func (w *eventWriter) Write(p []byte) (int, error) {
	var err error
	for _, line := range strings.Split(strings.TrimRight(string(p), "\r\n"), "\n") {
		if line == "" {
			continue
		}
		var e error
		switch lineLevel([]byte(line)) {
		case slog.LevelError:
			e = w.log.Error(eventError, line)
		case slog.LevelWarn:
			e = w.log.Warning(eventWarning, line)
		default:
			e = w.log.Info(eventInfo, line)
		}
		err = errors.Join(err, e)
	}
	return len(p), err
}
