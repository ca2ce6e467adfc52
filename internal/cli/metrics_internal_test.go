package cli

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/certctl/certctl/internal/httplimit"
	"github.com/certctl/certctl/renew"
	"github.com/certctl/certctl/store"
)

// The daemon's metrics server closes an idle keep-alive connection after
// its idle timeout and cuts off a client that never finishes its headers;
// stopping it leaves no goroutine behind.
func TestServeMetrics_IdleAndSlowClients_Cut(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	old := metricsLimits
	metricsLimits = httplimit.Limits{ReadHeader: 200 * time.Millisecond, Read: time.Second, Write: time.Second,
		Idle: 200 * time.Millisecond, MaxConns: 4}
	t.Cleanup(func() { metricsLimits = old })

	db, err := store.Open(filepath.Join(t.TempDir(), "certctl.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := &renew.Service{Store: db}
	var logs bytes.Buffer
	stop, err := serveMetrics("127.0.0.1:0", renew.NewMetrics(svc), &renew.Manager{Service: svc},
		slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no address logged: %s", logs.String())
	}
	closed := func(c net.Conn, r io.Reader) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.Copy(io.Discard, r); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("connection still open after 30s")
		}
	}

	idle, err := net.Dial("tcp", m[1])
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, err := io.WriteString(idle, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(idle)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("go_goroutines")) || resp.Close {
		t.Fatalf("/metrics: %s, close %v", resp.Status, resp.Close)
	}
	closed(idle, br)

	slow, err := net.Dial("tcp", m[1])
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := io.WriteString(slow, "GET /healthz HTTP/1.1\r\nHost: x"); err != nil {
		t.Fatal(err)
	}
	closed(slow, slow)

	stop()
	goleak.VerifyNone(t, ignore)
}
