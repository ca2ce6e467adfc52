package acme_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/internal/acmetest"
)

// The test binary run again with one of these set plays another process.
const (
	// envHoldPort: listen on its address and print a line, holding the
	// port until killed (another certctl process holding it).
	envHoldPort = "CERTCTL_TEST_HOLD_PORT"
	// envAcquire: acquire an HTTP-01 responder on its address and print
	// how it failed.
	envAcquire = "CERTCTL_TEST_ACQUIRE"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(envHoldPort); addr != "" {
		os.Exit(holdPort(addr))
	}
	if addr := os.Getenv(envAcquire); addr != "" {
		_, _, err := acme.AcquireHTTPResponder(context.Background(), addr)
		fmt.Printf("privileged=%v eacces=%v: %v\n", errors.Is(err, acme.ErrPortPrivileged), errors.Is(err, syscall.EACCES), err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// holdPort is the child of holdPortInChild: it holds the port until it is
// killed.
func holdPort(addr string) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("listening")
	for {
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		_ = c.Close()
	}
}

// holdPortInChild makes a child process of the test binary (the same
// executable, so a certctl process) listen on addr until release kills it.
func holdPortInChild(t *testing.T, addr string) (release func()) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(exe)
	child.Env = append(os.Environ(), envHoldPort+"="+addr)
	child.Stderr = os.Stderr
	ready, err := child.StdoutPipe()
	if err == nil {
		err = child.Start()
	}
	if err != nil {
		t.Fatal(err)
	}
	release = func() { _ = child.Process.Kill() }
	t.Cleanup(func() {
		release()
		_ = child.Wait()
	})
	if line, err := bufio.NewReader(ready).ReadString('\n'); line != "listening\n" {
		t.Fatalf("child holding %s: %q, %v", addr, line, err)
	}
	return release
}

// listenOn opens a listener of the test process itself on addr, skipping
// the test where the address family is not available.
func listenOn(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// neverWait fails the test if acquiring a responder waits for its port, and
// then frees the port so that the test ends without waiting a minute.
func neverWait(t *testing.T, ln net.Listener) {
	var once sync.Once
	acme.OnPortBusy(t, func(addr string) {
		once.Do(func() {
			t.Errorf("waited for %s, held by a program that is not certctl", addr)
			_ = ln.Close()
		})
	})
}

// checkBusyBySelf checks that err is a [*acme.PortBusyError] for addr naming
// the test process, which holds the port through a plain listener.
func checkBusyBySelf(t *testing.T, err error, addr string) {
	t.Helper()
	var busy *acme.PortBusyError
	if !errors.As(err, &busy) {
		t.Fatalf("error %v is not a PortBusyError", err)
	}
	// The kernel's command name is the executable's base name, cut to 15 bytes.
	comm := filepath.Base(os.Args[0])
	comm = comm[:min(len(comm), 15)]
	if busy.Addr != addr || busy.PID != os.Getpid() || busy.Process != comm {
		t.Fatalf("PortBusyError = %+v, want Addr %s PID %d Process %q", busy, addr, os.Getpid(), comm)
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("error %v does not wrap EADDRINUSE", err)
	}
	if want := fmt.Sprintf("port %s is in use by %s (pid %d)", addr, comm, os.Getpid()); busy.Error() != want {
		t.Fatalf("Error() = %q, want %q", busy.Error(), want)
	}
}

// A port held by a program that is not certctl (here a plain listener of the
// test process, not one of its shared responders) fails at once, naming the
// program: it will not release the port.
func TestAcquireHTTPResponder_HeldByOtherProgramFailsFast(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(addr, func(t *testing.T) {
			ln := listenOn(t, addr)
			neverWait(t, ln)
			_, _, err := acme.AcquireHTTPResponder(context.Background(), ln.Addr().String())
			checkBusyBySelf(t, err, ln.Addr().String())
		})
	}
}

func TestAcquireTLSALPNResponder_HeldByOtherProgramFailsFast(t *testing.T) {
	ln := listenOn(t, "127.0.0.1:0")
	neverWait(t, ln)
	_, _, err := acme.AcquireTLSALPNResponder(context.Background(), ln.Addr().String())
	checkBusyBySelf(t, err, ln.Addr().String())
}

// Obtain returns the responder's error as it is, so errors.As finds it.
func TestClient_Obtain_PortBusyTyped(t *testing.T) {
	srv, cl := ca(t, acmetest.Options{})
	ln := listenOn(t, httpAddr(srv))
	neverWait(t, ln)
	_, err := cl.Obtain(context.Background(), acme.Request{Domains: []string{"busy.example"},
		Challenge: acme.Challenge{HTTPAddr: httpAddr(srv)}})
	checkBusyBySelf(t, err, httpAddr(srv))
}

// Waiting for a port that another certctl process keeps ends with ctx, in a
// [*acme.PortBusyError] naming that process. (TestClient_Obtain_HTTP01SharedResponder
// checks that the wait ends when the port is released.)
func TestAcquireHTTPResponder_HeldByCertctlWaitsForCtx(t *testing.T) {
	ln := listenOn(t, "127.0.0.1:0")
	addr := ln.Addr().String()
	_ = ln.Close()
	holdPortInChild(t, addr)
	ctx, cancel := context.WithCancel(context.Background())
	waited := false
	acme.OnPortBusy(t, func(string) {
		waited = true
		cancel()
	})
	_, _, err := acme.AcquireHTTPResponder(ctx, addr)
	var busy *acme.PortBusyError
	if !waited || !errors.As(err, &busy) || busy.PID == 0 || busy.PID == os.Getpid() || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("waited %v, then %v (%+v), want a PortBusyError naming the child", waited, err, busy)
	}
	if !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("error %q does not say why waiting ended", err)
	}
}

// Waiting in vain for a port that another certctl process keeps ends in a
// [*acme.PortBusyError] naming that process.
func TestAcquireHTTPResponder_HeldByCertctlTimesOut(t *testing.T) {
	ln := listenOn(t, "127.0.0.1:0")
	addr := ln.Addr().String()
	_ = ln.Close()
	holdPortInChild(t, addr)
	acme.SetBindWait(t, 300*time.Millisecond)
	waits := 0
	acme.OnPortBusy(t, func(string) { waits++ })
	_, _, err := acme.AcquireHTTPResponder(context.Background(), addr)
	var busy *acme.PortBusyError
	if waits == 0 || !errors.As(err, &busy) || busy.PID == 0 || busy.PID == os.Getpid() || busy.Process == "" {
		t.Fatalf("after %d waits: %v (%+v), want a PortBusyError naming the child", waits, err, busy)
	}
}

// Binding a port below 1024 without privilege says so: the test binary run
// again as user nobody tries 127.0.0.1:81.
func TestAcquireHTTPResponder_NoPrivilege(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: cannot run a child as user nobody")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv not found: cannot run a child as user nobody")
	}
	const port = 81
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		if start, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && start <= port {
			t.Skipf("net.ipv4.ip_unprivileged_port_start is %d: anyone may bind port %d", start, port)
		}
	}
	// The test binary lives in a directory only root may enter: run a copy.
	dir, err := os.MkdirTemp("", "certctl-priv-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "acme.test")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", bin)
	cmd.Env = append(os.Environ(), envAcquire+"=127.0.0.1:"+strconv.Itoa(port))
	out, err := cmd.CombinedOutput()
	want := "privileged=true eacces=true: no permission to bind port 81: ports below 1024 need root or the CAP_NET_BIND_SERVICE capability: "
	if err != nil || !strings.HasPrefix(string(out), want) {
		t.Fatalf("as nobody: %v, output %q, want it to start with %q", err, out, want)
	}
}
