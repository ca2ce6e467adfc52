package portowner

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
)

// listen opens a listener on addr for the test and returns its address and
// port; it skips the test when the address family is not available (no IPv6
// in some containers).
func listen(t *testing.T, addr string) (bound, port string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	bound = ln.Addr().String()
	_, port, _ = net.SplitHostPort(bound)
	return bound, port
}

// selfComm is the command name of the test process.
func selfComm(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// checkSelf checks that Lookup(addr) names the test process.
func checkSelf(t *testing.T, addr string) {
	t.Helper()
	pid, name, ok := Lookup(addr)
	if !ok || pid != os.Getpid() || name != selfComm(t) {
		t.Fatalf("Lookup(%s) = %d %q %v, want %d %q true", addr, pid, name, ok, os.Getpid(), selfComm(t))
	}
}

func TestLookup_IPv4Listener(t *testing.T) {
	addr, port := listen(t, "127.0.0.1:0")
	checkSelf(t, addr)
	// Binding the port on every address conflicts with this listener too.
	checkSelf(t, ":"+port)
	checkSelf(t, "0.0.0.0:"+port)
	// Another loopback address of the same port is free: nobody holds it.
	if pid, name, ok := Lookup("127.0.0.2:" + port); ok {
		t.Fatalf("Lookup(127.0.0.2:%s) = %d %q, want unknown", port, pid, name)
	}
}

func TestLookup_IPv6Listener(t *testing.T) {
	addr, port := listen(t, "[::1]:0")
	checkSelf(t, addr)
	checkSelf(t, "[::]:"+port)
	if pid, name, ok := Lookup("127.0.0.1:" + port); ok {
		t.Fatalf("Lookup(127.0.0.1:%s) = %d %q, want unknown (::1 does not take IPv4)", port, pid, name)
	}
}

// A listener on every address (Go's ":0" is a dual-stack "::" socket, or
// 0.0.0.0 without IPv6) holds the port of each loopback address.
func TestLookup_WildcardListener(t *testing.T) {
	_, port := listen(t, ":0")
	checkSelf(t, "127.0.0.1:"+port)
	checkSelf(t, "localhost:"+port)
}

func TestLookup_UnknownIsNotAnError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	for _, a := range []string{addr, "no port", "127.0.0.1:http-ish", ""} {
		if pid, name, ok := Lookup(a); ok {
			t.Errorf("Lookup(%q) = %d %q, want unknown", a, pid, name)
		}
	}
}

func TestSameExecutable_SelfAndInit(t *testing.T) {
	if !SameExecutable(os.Getpid()) {
		t.Fatal("the test process does not run its own executable")
	}
	if SameExecutable(1) {
		t.Fatal("pid 1 runs the test binary")
	}
	if SameExecutable(-1) {
		t.Fatal("a missing process runs the test binary")
	}
}

func TestParseListener_Lines(t *testing.T) {
	const rest = " 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0"
	for _, tc := range []struct {
		line  string
		ip    string
		port  uint16
		inode string
	}{
		{"   0: 0100007F:1F90" + rest, "127.0.0.1", 8080, "12345"},
		{"   1: 00000000:0050" + rest, "0.0.0.0", 80, "12345"},
		{"   0: 00000000000000000000000001000000:01BB" + rest, "::1", 443, "12345"},
		{"   0: 00000000000000000000000000000000:0050" + rest, "::", 80, "12345"},
		{"   0: 0000000000000000FFFF00000100007F:0050" + rest, "127.0.0.1", 80, "12345"},
		{"   0: B80D0120000000000000000001000000:0050" + rest, "2001:db8::1", 80, "12345"},
		{"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode", "", 0, ""},
		{"   0: 0100007F:1F90" + strings.Replace(rest, " 0A ", " 01 ", 1), "", 0, ""},   // established
		{"   0: 0100007F:1F90" + strings.Replace(rest, " 12345 ", " 0 ", 1), "", 0, ""}, // no inode
		{"   0: 0100007:1F90" + rest, "", 0, ""},
		{"", "", 0, ""},
	} {
		ip, port, inode, ok := parseListener(tc.line)
		if tc.ip == "" {
			if ok {
				t.Errorf("%q: parsed as %v:%d inode %s, want rejected", tc.line, ip, port, inode)
			}
			continue
		}
		if !ok || ip != netip.MustParseAddr(tc.ip) || port != tc.port || inode != tc.inode {
			t.Errorf("%q: %v:%d inode %q ok %v, want %s:%d inode %s", tc.line, ip, port, inode, ok, tc.ip, tc.port, tc.inode)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	for b.Loop() {
		if _, _, ok := Lookup(addr); !ok {
			b.Fatal("not found")
		}
	}
}
