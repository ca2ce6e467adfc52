package cli_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certctl/certctl/internal/etcdtest"
	"github.com/certctl/certctl/store"
)

// A daemon on etcd started while etcd is down waits for it (one log line);
// when etcd stops under a running daemon it keeps running, logs once,
// reports certctl_store_up 0 and /healthz store_up false, and when etcd
// returns it logs once more, reports 1 and scans again.
func TestDaemon_EtcdOutage(t *testing.T) {
	srv := etcdtest.StartT(t)
	u := srv.StoreURL("certctl")
	b, err := store.OpenURL(context.Background(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Close()

	srv.Stop()
	metricsAddr := freeAddr(t)
	d := startDaemonArgs(t, "--store", u, "--etcd-dial-timeout", "1s", "daemon", "--log-level", "info", "--metrics-addr", metricsAddr, "--schedule", "@every 1h")
	d.waitLog(t, "store unreachable at start", time.Minute)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	d.waitLog(t, `msg="scan done"`, time.Minute)
	if v := scrape(t, metricsAddr)["certctl_store_up"].value(""); v != 1 {
		t.Fatalf("certctl_store_up = %v after start, want 1", v)
	}

	srv.Stop()
	_ = d.cmd.Process.Signal(syscall.SIGHUP) // scan now, against the stopped etcd
	d.waitLog(t, "store unavailable", time.Minute)
	if v := scrape(t, metricsAddr)["certctl_store_up"].value(""); v != 0 {
		t.Fatalf("certctl_store_up = %v with etcd stopped, want 0", v)
	}
	resp, err := http.Get("http://" + metricsAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var health struct {
		StoreUp *bool `json:"store_up"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || health.StoreUp == nil || *health.StoreUp {
		t.Fatalf("healthz with etcd stopped: %d %+v", resp.StatusCode, health)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	d.waitLog(t, "store available again", time.Minute)
	if v := scrape(t, metricsAddr)["certctl_store_up"].value(""); v != 1 {
		t.Fatalf("certctl_store_up = %v after etcd returned, want 1", v)
	}
	d.stop(t)
	if n := strings.Count(d.text(), "store unavailable"); n != 1 {
		t.Fatalf("%d lines about the store going down, want 1:\n%s", n, d.text())
	}
}
