package renew

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

var hookVarRef = regexp.MustCompile(`\$\{?(CERTCTL_[A-Za-z0-9_]*)`)

// psVarRef is PowerShell's way of reading an environment variable.
var psVarRef = regexp.MustCompile(`(?i)\$\{?env:(CERTCTL_[A-Za-z0-9_]*)`)

var shells = map[string]bool{"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "ash": true, "busybox": true}

// isPowerShell reports whether argv0 is Windows PowerShell or PowerShell
// (powershell.exe, pwsh), given with a Windows or a slash path or none.
func isPowerShell(argv0 string) bool {
	base := strings.ToLower(filepath.Base(strings.ReplaceAll(argv0, `\`, "/")))
	base = strings.TrimSuffix(base, ".exe")
	return base == "powershell" || base == "pwsh"
}

// CheckHook checks a hook's argv before it is stored: every CERTCTL_
// variable it mentions must be one certctl sets, and a variable can only be
// read through a shell, since hooks run without one (an argument
// "$CERTCTL_NAME" given to any other program arrives as those very
// characters). PowerShell (powershell.exe, pwsh) reads them as
// $env:CERTCTL_NAME: there, $CERTCTL_NAME would be an empty PowerShell
// variable and is refused.
func CheckHook(argv []string) error {
	if len(argv) == 0 {
		return fmt.Errorf("%w: empty command", ErrHookCommand)
	}
	known := map[string]bool{}
	for _, kv := range (HookEnv{}).Environ() {
		k, _, _ := strings.Cut(kv, "=")
		known[k] = true
	}
	shell := shells[filepath.Base(argv[0])]
	ps := isPowerShell(argv[0])
	for _, arg := range argv[1:] {
		if ps {
			for _, m := range psVarRef.FindAllStringSubmatch(arg, -1) {
				if !known[strings.ToUpper(m[1])] {
					return fmt.Errorf("%w: unknown variable %s (certctl sets %s)", ErrHookCommand, m[1], knownList())
				}
			}
		}
		for _, m := range hookVarRef.FindAllStringSubmatch(arg, -1) {
			if ps {
				return fmt.Errorf("%w: %q: PowerShell reads an environment variable as $env:%s", ErrHookCommand, arg, m[1])
			}
			if !known[m[1]] {
				return fmt.Errorf("%w: unknown variable %s (certctl sets %s)", ErrHookCommand, m[1], knownList())
			}
			if !shell {
				return fmt.Errorf("%w: %q is passed literally: hooks run without a shell; write sh -c '... $%s ...'", ErrHookCommand, arg, m[1])
			}
		}
	}
	return nil
}

func knownList() string {
	var names []string
	for _, kv := range (HookEnv{}).Environ() {
		k, _, _ := strings.Cut(kv, "=")
		names = append(names, k)
	}
	return strings.Join(names, ", ")
}
