//go:build !linux

package portowner

// Lookup would find the process listening on addr; outside Linux the holder
// is always unknown.
func Lookup(addr string) (pid int, name string, ok bool) { return 0, "", false }

// SameExecutable would report whether process pid runs the caller's
// executable; outside Linux it reports false.
func SameExecutable(pid int) bool { return false }
