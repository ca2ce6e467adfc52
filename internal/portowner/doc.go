// Package portowner finds which process listens on a TCP port, so that a
// failed bind can name the program in the way ("port :80 is in use by
// nginx") instead of waiting for a port that will not be freed.
//
// [Lookup] returns the process listening on an address; [SameExecutable]
// tells whether a process runs the same executable file as the caller. Both
// read Linux's /proc and never fail loudly: a holder that cannot be found
// (another network namespace, another user's process seen without
// privilege, a port released meanwhile, another OS) is reported as unknown.
//
// # Files
//
//   - portowner_linux.go: the /proc lookups: the LISTEN socket's inode from
//     /proc/net/tcp and tcp6, the process holding it from /proc/PID/fd, its
//     name from /proc/PID/comm (or /proc/PID/exe).
//   - portowner_other.go: other systems, where the holder is always unknown.
package portowner
