package cli

import (
	"reflect"
	"syscall"
	"testing"

	"golang.org/x/sys/windows"
)

// The command line shown by install, and the one the service manager gets
// (mgr quotes with syscall.EscapeArg), both split back into the service's
// arguments with Windows' own CommandLineToArgvW.
func TestWindowsCommandLine_SplitByWindows(t *testing.T) {
	exe := `C:\Program Files\certctl\certctl.exe`
	argv := append([]string{exe}, serviceArgs(`C:\Users\Admin\My Certs`, `C:\logs\certctl daemon.log`,
		[]string{"--schedule", "@every 1h", "--deploy-hook", `powershell -File 'C:\My Scripts\bind.ps1' "x"`, "--store", `C:\s\`, "--email", ""})...)
	got, err := windows.DecomposeCommandLine(windowsCommandLine(argv))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, argv) {
		t.Errorf("windowsCommandLine splits into %q, want %q", got, argv)
	}
	line := syscall.EscapeArg(argv[0])
	for _, a := range argv[1:] {
		line += " " + syscall.EscapeArg(a)
	}
	if got, err = windows.DecomposeCommandLine(line); err != nil || !reflect.DeepEqual(got, argv) {
		t.Errorf("the service manager's command line splits into %q (%v), want %q", got, err, argv)
	}
}
