package portowner

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Lookup returns the process listening on the TCP address addr
// ("host:port") and its name, or ok false when it cannot tell. An empty or
// unspecified host, or a host name, matches a listener on any address of the
// port; an IP address matches a listener on that address or on the
// unspecified address of its family (or on "::", which also takes IPv4). A
// socket that several processes share (a server's workers) is reported for
// the one with the lowest process id, usually their parent. It reads only
// /proc and stops at the first match.
func Lookup(addr string) (pid int, name string, ok bool) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, "", false
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return 0, "", false
	}
	var want netip.Addr // invalid: any address
	if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
		want = ip.WithZone("").Unmap()
	}
	inode, ok := listeningInode(want, uint16(port))
	if !ok {
		return 0, "", false
	}
	pid, ok = socketHolder(inode)
	if !ok {
		return 0, "", false
	}
	return pid, processName(pid), true
}

// SameExecutable reports whether process pid runs the same executable file
// as the calling process (false when either cannot be read).
func SameExecutable(pid int) bool {
	theirs, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
	if err != nil {
		return false
	}
	ours, err := os.Stat("/proc/self/exe")
	return err == nil && os.SameFile(theirs, ours)
}

// listeningInode returns the inode of the socket listening on port at want
// (any address if want is invalid), preferring a listener on want itself to
// one on an unspecified address.
func listeningInode(want netip.Addr, port uint16) (inode string, ok bool) {
	var fallback string
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range bytes.Split(data, []byte("\n"))[1:] {
			ip, p, ino, ok := parseListener(string(line))
			switch {
			case !ok || p != port:
			case !want.IsValid() || ip == want:
				return ino, true
			case fallback == "" && ip.IsUnspecified() && (ip.Is6() || want.Is4()):
				fallback = ino
			}
		}
	}
	return fallback, fallback != ""
}

// parseListener parses one line of /proc/net/tcp or tcp6, returning ok
// false unless it is a socket in the LISTEN state with an inode:
//
//	sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
//	0: 0100007F:1F90 00000000:0000 0A ...
//
// The address is printed as 32-bit words, each the hex value of four bytes
// in network order read as a native integer (so little-endian on x86 and
// arm64); the port is plain hex.
func parseListener(line string) (ip netip.Addr, port uint16, inode string, ok bool) {
	f := strings.Fields(line)
	if len(f) < 10 || f[3] != "0A" || f[9] == "0" {
		return netip.Addr{}, 0, "", false
	}
	hexIP, hexPort, found := strings.Cut(f[1], ":")
	if !found {
		return netip.Addr{}, 0, "", false
	}
	p, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return netip.Addr{}, 0, "", false
	}
	b, err := hex.DecodeString(hexIP)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return netip.Addr{}, 0, "", false
	}
	for w := 0; w < len(b); w += 4 {
		binary.NativeEndian.PutUint32(b[w:], binary.BigEndian.Uint32(b[w:]))
	}
	ip, _ = netip.AddrFromSlice(b)
	return ip.Unmap(), uint16(p), f[9], true
}

// socketHolder returns the first process found with socket inode open, in
// the order /proc lists them (ascending ids), skipping the processes whose
// descriptors it may not read.
func socketHolder(inode string) (pid int, ok bool) {
	proc, err := os.Open("/proc")
	if err != nil {
		return 0, false
	}
	names, _ := proc.Readdirnames(-1)
	_ = proc.Close()
	target := "socket:[" + inode + "]"
	for _, name := range names {
		id, err := strconv.Atoi(name)
		if err == nil && id > 0 && holds(filepath.Join("/proc", name, "fd"), target) {
			return id, true
		}
	}
	return 0, false
}

// holds reports whether the descriptor directory fdDir has a link to target.
func holds(fdDir, target string) bool {
	d, err := os.Open(fdDir)
	if err != nil {
		return false
	}
	fds, _ := d.Readdirnames(-1)
	_ = d.Close()
	for _, fd := range fds {
		if link, err := os.Readlink(filepath.Join(fdDir, fd)); err == nil && link == target {
			return true
		}
	}
	return false
}

// processName returns the command name of pid, from /proc/PID/comm or else
// its executable ("" if neither can be read).
func processName(pid int) string {
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	if comm, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil {
		if s := strings.TrimSpace(string(comm)); s != "" {
			return s
		}
	}
	exe, err := os.Readlink(filepath.Join(dir, "exe"))
	if err != nil {
		return ""
	}
	return filepath.Base(strings.TrimSuffix(exe, " (deleted)"))
}
