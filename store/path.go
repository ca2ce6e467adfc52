package store

import (
	"os"
	"path/filepath"
)

// DefaultPath returns the store path used when none is given:
// $CERTCTL_STORE if set; /var/lib/certctl/certctl.db for root; otherwise
// $XDG_DATA_HOME/certctl/certctl.db or ~/.local/share/certctl/certctl.db.
// The caller creates missing default directories (0700).
func DefaultPath() string {
	home, _ := os.UserHomeDir()
	return defaultPath(os.Getenv, os.Geteuid(), home)
}

// defaultPath is DefaultPath with its environment injected.
func defaultPath(getenv func(string) string, euid int, home string) string {
	if p := getenv("CERTCTL_STORE"); p != "" {
		return p
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
