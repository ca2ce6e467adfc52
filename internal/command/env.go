package command

import (
	"os"
	"runtime"
	"strings"
)

// HookEnvVar names the environment variable through which a user passes
// further variables of certctl's environment to the commands [Run] starts:
// a comma-separated list of names, each exact or ending in '*' for a
// prefix ("MY_SETTING,AWS_*"). A lone "*" is ignored: passing the whole
// environment would hand every secret certctl holds to every hook.
const HookEnvVar = "CERTCTL_HOOK_ENV"

// Inherited are the variables of certctl's own environment that every
// command started by [Run] receives, when set; so do those starting with
// "LC_". Everything else (DNS provider tokens, a PFX password, proxy URLs
// that may carry credentials, systemd's NOTIFY_SOCKET, LISTEN_FDS and
// CREDENTIALS_DIRECTORY, which belong to certctl's own unit) stays out
// unless named in [HookEnvVar]. The Windows names are there because
// programs cannot start without them.
var Inherited = []string{
	"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "TMPDIR", "TZ",
	"LANG", "LANGUAGE", "SSL_CERT_FILE", "SSL_CERT_DIR",
	// Windows
	"SYSTEMROOT", "WINDIR", "COMSPEC", "PATHEXT", "TEMP", "TMP", "USERPROFILE", "USERNAME",
	"PROGRAMDATA", "PROGRAMFILES", "APPDATA", "LOCALAPPDATA",
}

// Environ returns the environment of a command that [Run] starts: the
// variables of the current process named in [Inherited] or starting with
// "LC_", those named in [HookEnvVar], then extra ("KEY=value" strings,
// which win over inherited ones of the same name).
func Environ(extra []string) []string {
	allow := allowList(os.Getenv(HookEnvVar))
	var out []string
	for _, kv := range os.Environ() {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || !allowed(k, allow) || overridden(k, extra) {
			continue
		}
		out = append(out, kv)
	}
	return append(out, extra...)
}

// allowList parses the value of HookEnvVar.
func allowList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" && f != "*" {
			out = append(out, f)
		}
	}
	return out
}

// allowed reports whether the variable k is inherited.
func allowed(k string, extra []string) bool {
	if hasPrefix(k, "LC_") {
		return true
	}
	for _, n := range Inherited {
		if sameName(k, n) {
			return true
		}
	}
	for _, n := range extra {
		if p, ok := strings.CutSuffix(n, "*"); ok {
			if hasPrefix(k, p) {
				return true
			}
		} else if sameName(k, n) {
			return true
		}
	}
	return false
}

// overridden reports whether extra sets the variable k.
func overridden(k string, extra []string) bool {
	for _, kv := range extra {
		if n, _, _ := strings.Cut(kv, "="); sameName(k, n) {
			return true
		}
	}
	return false
}

// sameName compares variable names as the system does: ignoring case on
// Windows.
func sameName(a, b string) bool {
	if runtime.GOOS == "windows" {
		return strings.EqualFold(a, b)
	}
	return a == b
}

func hasPrefix(s, p string) bool {
	return len(s) >= len(p) && sameName(s[:len(p)], p)
}
