package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/certctl/certctl/acme"
	"github.com/certctl/certctl/internal/acmetest"
	"github.com/certctl/certctl/store"
)

// daemonProc is `certctl daemon` running as its own process.
type daemonProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	logs   []string
	logged chan struct{} // closed (and replaced) at each new log line
	done   chan struct{}
	err    error
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (h *harness) startDaemon(t *testing.T, args ...string) *daemonProc {
	t.Helper()
	return startDaemonArgs(t, append(append(h.globals(), "daemon", "--log-level", "info"), args...)...)
}

// startDaemonArgs runs the certctl binary with args (which include
// "daemon") and collects its log lines.
func startDaemonArgs(t *testing.T, args ...string) *daemonProc {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	return startProc(t, bin, args...)
}

// startProc runs bin with args and collects its log lines (stderr).
func startProc(t *testing.T, bin string, args ...string) *daemonProc {
	t.Helper()
	d := &daemonProc{done: make(chan struct{}), logged: make(chan struct{})}
	d.cmd = exec.Command(bin, args...)
	stderr, _ := d.cmd.StderrPipe()
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			d.mu.Lock()
			d.logs = append(d.logs, sc.Text())
			close(d.logged)
			d.logged = make(chan struct{})
			d.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stderr)
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() { _ = d.cmd.Process.Kill(); <-d.done })
	return d
}

// waitLog waits until a log line contains s, woken by each new line; the
// timeout is a liveness bound, not a measure.
func (d *daemonProc) waitLog(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	limit := time.NewTimer(timeout)
	defer limit.Stop()
	for seen := 0; ; {
		d.mu.Lock()
		for ; seen < len(d.logs); seen++ {
			if strings.Contains(d.logs[seen], s) {
				d.mu.Unlock()
				return
			}
		}
		logged := d.logged
		d.mu.Unlock()
		select {
		case <-logged:
		case <-d.done:
			t.Fatalf("daemon exited (%v) before logging %q:\n%s", d.err, s, d.text())
		case <-limit.C:
			t.Fatalf("daemon did not log %q in %v:\n%s", s, timeout, d.text())
		}
	}
}

func (d *daemonProc) text() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.logs, "\n")
}

func (d *daemonProc) stop(t *testing.T) {
	t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop on SIGTERM")
	}
	if d.err != nil {
		t.Fatalf("daemon exit after SIGTERM: %v\n%s", d.err, strings.Join(d.logs, "\n"))
	}
}

// makeDue tells Pebble (ARI) that the certificate is due now.
func (h *harness) makeDue(t *testing.T, db *store.DB, name string) {
	t.Helper()
	ctx := context.Background()
	c, err := db.Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := h.srv.SetRenewalInfo(ctx, c.ActiveVersion().CertPEM, start, start.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	c.ARI = store.ARIState{}
	c.Renewal.Next = time.Now()
	if err := db.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
}

func TestDaemon_MetricsSIGTERMAndRestart(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	h.mustRun("issue", "-d", "d1.example", "--http-addr", h.httpAddr(), "--agree-tos")
	h.mustRun("issue", "-d", "d2.example", "--http-addr", h.httpAddr())
	metricsAddr := freeAddr(t)
	d := h.startDaemon(t, "--metrics-addr", metricsAddr, "--schedule", "@every 1h")
	d.waitLog(t, `msg="scan done"`, 20*time.Second)
	fams := scrape(t, metricsAddr)
	if fams["certctl_last_scan_timestamp_seconds"].value("") <= 0 {
		t.Fatalf("no scan in metrics: %v", fams)
	}
	if fams["certctl_store_up"].value("") != 1 {
		t.Fatalf("certctl_store_up is not 1: %v", fams["certctl_store_up"])
	}
	entries := h.list()
	for _, n := range []string{"d1.example", "d2.example"} {
		na := fams["certctl_certificate_not_after_timestamp_seconds"].value(`name="` + n + `"`)
		if math.Abs(na-float64(entries[n].NotAfter.Unix())) > 1 {
			t.Fatalf("%s: not_after metric %v, listed %v", n, na, entries[n].NotAfter)
		}
		if fams["certctl_certificate_status"].value(`name="`+n+`",status="valid"`) != 1 ||
			fams["certctl_certificate_status"].value(`name="`+n+`",status="failing"`) != 0 {
			t.Fatalf("%s: status series wrong", n)
		}
		if fams["certctl_certificate_next_renewal_timestamp_seconds"].value(`name="`+n+`"`) <= float64(time.Now().Unix()) {
			t.Fatalf("%s: next renewal in the past", n)
		}
	}
	if fams["certctl_acme_requests_total"].value(`outcome="ok"`) < 1 {
		t.Fatal("no ACME requests counted")
	}
	resp, err := http.Get("http://" + metricsAddr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	var health struct {
		OK      bool `json:"ok"`
		StoreUp bool `json:"store_up"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&health); err != nil || !health.OK || !health.StoreUp {
		t.Fatalf("healthz: %+v %v", health, err)
	}
	resp.Body.Close()
	// A removed certificate's series disappear.
	h.mustRun("remove", "d2.example")
	if fams = scrape(t, metricsAddr); fams["certctl_certificate_not_after_timestamp_seconds"].has(`name="d2.example"`) {
		t.Fatal("series of a removed certificate still exported")
	}

	// SIGTERM while a renewal is in flight (held by a slow pre-hook).
	d.stop(t)
	db, err := store.Open(h.store, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.makeDue(t, db, "d1.example")
	before := h.list()["d1.example"].Serial
	d = h.startDaemon(t, "--metrics-addr", "", "--pre-hook", "sleep 3", "--shutdown-timeout", "100ms", "--log-level", "debug")
	d.waitLog(t, `msg="hook started"`, 20*time.Second)
	d.stop(t)
	c, err := db.Get(context.Background(), "d1.example")
	if err != nil || c.ActiveVersion() == nil || c.ActiveVersion().Serial != before {
		t.Fatalf("after SIGTERM mid-renewal: %v, active %+v", err, c.ActiveVersion())
	}
	// Restarted, it finishes the renewal.
	d = h.startDaemon(t, "--metrics-addr", "")
	d.waitLog(t, "certificate renewed", 20*time.Second)
	d.stop(t)
	if after := h.list()["d1.example"]; after.Serial == before || after.Status != "valid" {
		t.Fatalf("after restart: %+v", after)
	}
}

// `certctl renew --all` and a running daemon over the same store: each due
// certificate gets exactly one new order.
func TestDaemon_AndCLIRenewOrderOnce(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	names := []string{"o1.example", "o2.example", "o3.example", "o4.example", "o5.example", "o6.example"}
	for _, n := range names {
		h.mustRun("issue", "-d", n, "--http-addr", h.httpAddr(), "--agree-tos")
	}
	db, err := store.Open(h.store, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]string{}
	for _, n := range names {
		for {
			// Pebble cannot look up orders of serials whose DER has a leading
			// zero; with such a serial the order falls back to no "replaces"
			// and its count below would be two. Re-issue those.
			if s := h.list()[n].Serial; s[0] < '8' {
				break
			}
			h.mustRun("renew", n, "--force")
		}
		h.makeDue(t, db, n)
		before[n] = h.list()[n].Serial
	}
	ordersBefore := len(h.srv.OrderIdentifiers())
	d := h.startDaemon(t, "--metrics-addr", "", "--workers", "3")
	code, out, errs := h.binary(t, "renew", "--all", "--workers", "3")
	if code != 0 {
		t.Fatalf("renew --all: %d %s %s", code, out, errs)
	}
	// renew --all waited for the lock of every certificate the daemon was
	// renewing, and found it renewed: all are renewed now. Stopping the
	// daemon waits for any order it still has in flight.
	d.stop(t)
	for _, n := range names {
		if h.list()[n].Serial == before[n] {
			t.Fatalf("%s was not renewed", n)
		}
	}
	per := map[string]int{}
	for _, ids := range h.srv.OrderIdentifiers()[ordersBefore:] {
		per[strings.Join(ids, ",")]++
	}
	for _, n := range names {
		if per[n] != 1 {
			t.Fatalf("%s: %d orders, want exactly 1 (all: %v)", n, per[n], per)
		}
	}
}

func TestDaemon_BadInput(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	if code, _, errs := h.binary(t, "daemon", "--schedule", "every banana"); code != 2 || !strings.Contains(errs, "schedule") {
		t.Fatalf("bad schedule: exit %d %q", code, errs)
	}
	if code, _, errs := h.binary(t, "daemon", "--webhook", "not a url"); code != 2 {
		t.Fatalf("bad webhook: exit %d %q", code, errs)
	}
	if code, _, errs := h.binary(t, "daemon", "--deploy-hook", "echo 'unterminated"); code != 2 {
		t.Fatalf("bad hook: exit %d %q", code, errs)
	}
	h.mustRun("account", "register", "--agree-tos") // a store to keep unchanged
	before := sum(t, h.store)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"schedule that never fires", []string{"--schedule", "0 0 30 2 *"}},
		{"schedule TZ= alone", []string{"--schedule", "TZ="}},
		{"workers 0", []string{"--workers", "0"}},
		{"workers 65", []string{"--workers", "65"}},
		{"shutdown timeout not a duration", []string{"--shutdown-timeout", "a while"}},
		{"webhook URL with credentials", []string{"--webhook", "https://ops:s3cret@127.0.0.1:1/hook"}},
		{"unknown flag", []string{"--frobnicate"}},
		{"argument", []string{"extra"}},
	} {
		code, _, errs := h.binary(t, append([]string{"daemon"}, c.args...)...)
		lines := strings.Split(strings.TrimSpace(errs), "\n")
		if code != 2 || !strings.HasPrefix(lines[0], "certctl: ") || len(lines) > 2 || strings.Contains(errs, "s3cret") {
			t.Errorf("%s: exit %d, stderr %q", c.name, code, errs)
		}
		if sum(t, h.store) != before {
			t.Fatalf("%s: store changed", c.name)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, _, errs := h.binary(t, "daemon", "--metrics-addr", ln.Addr().String())
	if code != 1 || !strings.Contains(errs, "address already in use") || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
		t.Fatalf("metrics address in use: exit %d %q", code, errs)
	}
	_ = acme.HTTP01
}

// dtoFamily is a parsed metric family with lookups by label text.
type dtoFamily struct{ samples map[string]float64 }

func (f *dtoFamily) value(labels string) float64 {
	if f == nil {
		return math.NaN()
	}
	return f.samples[labels]
}

func (f *dtoFamily) has(labels string) bool {
	if f == nil {
		return false
	}
	_, ok := f.samples[labels]
	return ok
}

// scrape fetches /metrics and parses it with Prometheus' text parser.
func scrape(t *testing.T, addr string) map[string]*dtoFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	out := map[string]*dtoFamily{}
	for name, mf := range mfs {
		f := &dtoFamily{samples: map[string]float64{}}
		for _, m := range mf.GetMetric() {
			var parts []string
			for _, l := range m.GetLabel() {
				parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			f.samples[strings.Join(parts, ",")] = v
		}
		out[name] = f
	}
	return out
}

func TestDaemon_SIGHUPScansNow(t *testing.T) {
	h := newHarness(t, acmetest.Options{})
	h.mustRun("issue", "-d", "hup.example", "--http-addr", h.httpAddr(), "--agree-tos")
	d := h.startDaemon(t, "--metrics-addr", "", "--schedule", "@every 1h")
	d.waitLog(t, `msg="scan done"`, 20*time.Second) // the first scan's ARI check is stored
	db, err := store.Open(h.store, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := h.list()["hup.example"].Serial
	h.makeDue(t, db, "hup.example")
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitLog(t, "SIGHUP: scanning now", 10*time.Second)
	d.waitLog(t, "certificate renewed", 20*time.Second)
	d.stop(t)
	if after := h.list()["hup.example"].Serial; after == before {
		t.Fatal("serial unchanged after SIGHUP")
	}
}
