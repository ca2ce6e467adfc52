package store

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// DefaultPath returns the store path used when none is given:
// $CERTCTL_STORE if set; on Windows %ProgramData%\certctl\certctl.db (the
// machine-wide store a service uses; C:\ProgramData when the variable is
// unset); elsewhere /var/lib/certctl/certctl.db for root, otherwise
// $XDG_DATA_HOME/certctl/certctl.db or ~/.local/share/certctl/certctl.db.
// The caller creates missing default directories, private to their owner
// (0700; on Windows an access control list limited to SYSTEM,
// Administrators and the current user).
func DefaultPath() string {
	home, _ := os.UserHomeDir()
	return defaultPath(runtime.GOOS, os.Getenv, os.Geteuid(), home)
}

// defaultPath is DefaultPath with its platform and environment injected.
func defaultPath(goos string, getenv func(string) string, euid int, home string) string {
	if p := getenv("CERTCTL_STORE"); p != "" {
		return p
	}
	if goos == "windows" {
		return windowsDefaultPath(getenv("ProgramData"))
	}
	if euid == 0 {
		return "/var/lib/certctl/certctl.db"
	}
	if x := getenv("XDG_DATA_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "certctl", "certctl.db")
	}
	if home == "" {
		return "certctl.db"
	}
	return filepath.Join(home, ".local", "share", "certctl", "certctl.db")
}

// windowsDefaultPath is the store under programData, the value of
// %ProgramData%, or under C:\ProgramData when that is not an absolute
// Windows path. It joins with backslashes whatever the platform it runs
// on, so that it can be tested anywhere.
func windowsDefaultPath(programData string) string {
	if !windowsAbs(programData) {
		programData = `C:\ProgramData`
	}
	return strings.TrimRight(programData, `\/`) + `\certctl\certctl.db`
}

// windowsAbs reports whether p is an absolute Windows path: a drive letter
// followed by a separator, or a UNC path (\\server\share).
func windowsAbs(p string) bool {
	if strings.HasPrefix(p, `\\`) && len(p) > 2 {
		return true
	}
	return len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') &&
		('a' <= p[0]|0x20 && p[0]|0x20 <= 'z')
}
