package cli_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/acmetest"
)

var buildFleetNode = sync.OnceValues(func() (string, error) {
	dir, err := buildDir("certctl-example-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "fleet-node")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/fleet-node").CombinedOutput(); err != nil {
		return "", errors.New("go build: " + err.Error() + ": " + string(out))
	}
	return bin, nil
})

// servedSerial does a fresh TLS handshake with addr for name and returns the
// serial it is served, verified against roots.
func servedSerial(addr, name string, roots *x509.CertPool) (string, error) {
	d := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return hex.EncodeToString(conn.ConnectionState().PeerCertificates[0].SerialNumber.Bytes()), nil
}

// The fleet-node example runs as its own process; `certctl renew --force` runs
// as another; new handshakes present the new serial within 2 seconds.
func TestCrossProcess_RenewReachesRunningServer(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	if code, _, errs := h.binary(t, "issue", "-d", "x.example", "-d", "y.example", "--http-addr", h.httpAddr(), "--agree-tos"); code != 0 {
		t.Fatalf("issue: %s", errs)
	}
	bin, err := buildFleetNode()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := exec.CommandContext(ctx, bin, "--store", h.store, "--listen", addr)
	stderr, _ := srv.StderrPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	// waitLine waits for the server's next log line holding every one of
	// parts; ctx bounds it.
	waitLine := func(parts ...string) {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("example server exited before logging %q", parts)
				}
				if containsAll(l, parts) {
					return
				}
			case <-ctx.Done():
				t.Fatalf("example server did not log %q", parts)
			}
		}
	}
	waitLine("msg=serving")
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(h.root)
	before, err := servedSerial(addr, "y.example", roots)
	if err != nil {
		t.Fatalf("handshake before renewal: %v", err)
	}
	if before != h.list()["x.example"].Serial {
		t.Fatalf("served %s, stored %s", before, h.list()["x.example"].Serial)
	}
	for round := 0; round < 3; round++ {
		if code, out, errs := h.binary(t, "renew", "x.example", "--force"); code != 0 {
			t.Fatalf("renew: %s %s", out, errs)
		}
		want := h.list()["x.example"].Serial
		renewed := time.Now()
		// The server's store watch logs each sync after the swap.
		waitLine(`msg="source synced"`, "installed=1")
		got, err := servedSerial(addr, "y.example", roots)
		if err != nil {
			t.Fatalf("handshake after renewal: %v", err)
		}
		if got != want {
			t.Fatalf("round %d: serving %s after the sync, want %s", round, got, want)
		}
		t.Logf("round %d: new serial served %v after the renewal", round, time.Since(renewed).Round(time.Millisecond))
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
