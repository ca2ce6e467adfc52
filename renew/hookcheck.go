package renew

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

var hookVarRef = regexp.MustCompile(`\$\{?(CERTCTL_[A-Za-z0-9_]*)`)

var shells = map[string]bool{"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "ash": true, "busybox": true}

// CheckHook checks a hook's argv before it is stored: every CERTCTL_
// variable it mentions must be one certctl sets, and a variable can only be
// read through a shell, since hooks run without one (an argument
// "$CERTCTL_NAME" given to any other program arrives as those very
// characters).
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
	for _, arg := range argv[1:] {
		for _, m := range hookVarRef.FindAllStringSubmatch(arg, -1) {
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
